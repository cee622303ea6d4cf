//! A small, real ETL job: daily sales per region and product from an orders CSV.
//!
//! ```text
//! cargo run --features cli,otlp --example etl_job                                   # examples/data/orders.csv
//! cargo run --features cli,otlp --example etl_job -- --input examples/data/orders_bad.csv   # fails in `validate`
//! cargo run --features cli,otlp --example etl_job -- --store jsonl:target/etl_job/history   # another store
//! cargo run --features cli,otlp,delta --example etl_job -- --store delta:target/etl_job/lake  # Delta tables
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 cargo run --features cli,otlp --example etl_job  # + traces
//! ```
//!
//! The job is one pipeline (`daily_sales`) of three processes (`extract`, `transform`, `load`)
//! and five steps. Every entity records the rows it read and wrote and the datasets it read
//! from and wrote to (`etl.rows_in`, `etl.rows_out`, `etl.inputs`, `etl.outputs`, through
//! [`EtlSpanExt`]): the input and output files, and between the steps the in-memory stages
//! (`memory://daily_sales/orders`, …). Every run is recorded in the store named by `--store URL` or
//! `TRACING_ETL_STORE` (a [`StoreUrl`]: `sqlite:PATH`, `jsonl:DIR`,
//! `postgres://USER@HOST/DBNAME?schema=NAME`, `delta:DIR` or `memory:`; default
//! `sqlite:tracing-etl.db`).
//! `--db PATH` / `TRACING_ETL_DB`, the older way to name a SQLite file, still works; naming the
//! store both ways is an error. The job prints a summary of the run read back from the store,
//! and exits non-zero when the run failed. When `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, every pipeline, process and step is also sent
//! as an OpenTelemetry span over OTLP (`OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf`, the
//! default, or `grpc`), and the summary shows the run's trace id. Built with the
//! `openlineage` feature, it also sends an OpenLineage run event for every pipeline, process
//! and step when the OpenLineage variables are set (`OPENLINEAGE_URL=http://localhost:5000` for
//! Marquez, or `OPENLINEAGE__TRANSPORT__TYPE=file` with
//! `OPENLINEAGE__TRANSPORT__LOG_FILE_PATH=events.jsonl`; see the `lineage` guide):
//!
//! ```text
//! OPENLINEAGE_URL=http://localhost:5000 cargo run --features cli,otlp,openlineage --example etl_job
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};
use serde::Deserialize;
use tracing::{instrument, Span};
use tracing_etl::{
    store::{RecordReader, RunFilter},
    EtlSpanExt, ExecutionRecordsLayer, InMemoryStore, JsonLinesStore, RunStatus, SqliteStore,
    StoreError, StoreUrl,
};
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

/// Daily sales per region and product, from an orders CSV.
#[derive(Debug, Parser)]
struct Args {
    /// Orders CSV to read.
    #[arg(long, default_value = "examples/data/orders.csv")]
    input: PathBuf,
    /// Where to write the daily totals (CSV).
    #[arg(long, default_value = "target/etl_job/daily_sales.csv")]
    output: PathBuf,
    /// Run id to record (default: a fresh UUID v7).
    #[arg(long)]
    run_id: Option<String>,
    /// The run history, as a store URL: sqlite:PATH, jsonl:DIR,
    /// postgres://USER@HOST/DBNAME?schema=NAME, delta:DIR (with the delta feature) or memory:
    /// [default: sqlite:tracing-etl.db]
    #[arg(long, env = "TRACING_ETL_STORE", value_name = "URL")]
    store: Option<String>,
    /// Deprecated: a SQLite file of the run history, the same as --store sqlite:PATH.
    #[arg(long, env = "TRACING_ETL_DB", value_name = "PATH")]
    db: Option<PathBuf>,
}

/// The store named by `--store` or `--db` (an option given on the command line wins over the
/// other's environment variable), else `sqlite:tracing-etl.db`.
fn store_url(args: &Args, matches: &ArgMatches) -> Result<StoreUrl, String> {
    let on_command_line = |id| matches.value_source(id) == Some(ValueSource::CommandLine);
    let parse = |text: &str| text.parse::<StoreUrl>().map_err(|e| e.to_string());
    // TRACING_ETL_STORE set to nothing names nothing.
    let store = args.store.as_ref().filter(|s| !s.is_empty());
    match (store, &args.db) {
        (Some(store), Some(db)) => match (on_command_line("store"), on_command_line("db")) {
            (true, false) => parse(store),
            (false, true) => Ok(StoreUrl::Sqlite(db.clone())),
            (true, true) => Err("--store and --db both name the run history: pass one \
                                 (--db PATH is --store sqlite:PATH)"
                .into()),
            (false, false) => Err("both TRACING_ETL_STORE and TRACING_ETL_DB are set: \
                                   unset one, or pass --store URL"
                .into()),
        },
        (Some(store), None) => parse(store),
        (None, Some(db)) => Ok(StoreUrl::Sqlite(db.clone())),
        (None, None) => Ok(StoreUrl::Sqlite("tracing-etl.db".into())),
    }
}

/// One line of the input file, as text.
#[derive(Debug, Deserialize)]
struct RawOrder {
    order_id: String,
    order_date: String,
    customer: String,
    region: String,
    product: String,
    quantity: String,
    unit_price: String,
}

/// A validated order.
#[derive(Debug)]
struct Order {
    date: chrono::NaiveDate,
    region: String,
    product: String,
    quantity: u32,
    unit_price_cents: i64,
}

/// An order with its amount.
#[derive(Debug)]
struct Sale {
    date: chrono::NaiveDate,
    region: String,
    product: String,
    quantity: u32,
    amount_cents: i64,
}

/// Totals of one day, region and product.
#[derive(Debug, Default)]
struct Total {
    orders: u32,
    quantity: u64,
    amount_cents: i64,
}

type Totals = BTreeMap<(chrono::NaiveDate, String, String), Total>;

#[derive(Debug, thiserror::Error)]
enum EtlError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: csv::Error },
    #[error("line {line}: {field} {value:?} is not {expected}")]
    InvalidField {
        line: usize,
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("no valid orders in the input")]
    Empty,
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The in-memory stages between the steps, as datasets.
const RAW_ORDERS: &str = "memory://daily_sales/raw_orders";
const ORDERS: &str = "memory://daily_sales/orders";
const SALES: &str = "memory://daily_sales/sales";
const TOTALS: &str = "memory://daily_sales/totals";

/// A file as a dataset name.
fn dataset(path: &Path) -> String {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    format!("file://{}", path.display())
}

/// Rows and datasets of the current span's entity.
fn record_volume(rows_in: usize, rows_out: usize, inputs: &[&str], outputs: &[&str]) {
    let span = Span::current();
    span.record_rows_in(rows_in as u64);
    span.record_rows_out(rows_out as u64);
    inputs.iter().for_each(|d| span.add_input(d));
    outputs.iter().for_each(|d| span.add_output(d));
}

#[instrument(skip_all, fields(etl.pipeline = "daily_sales", etl.run_id = %run_id))]
fn daily_sales(run_id: &str, input: &Path, output: &Path) -> Result<usize, EtlError> {
    Span::current().add_input(dataset(input));
    let (rows, orders) = extract(input)?;
    let totals = transform(orders);
    load(&totals, output)?;
    let span = Span::current();
    span.record_rows_in(rows as u64);
    span.record_rows_out(totals.len() as u64);
    span.add_output(dataset(output));
    Ok(totals.len())
}

/// The orders, and how many rows the file had.
#[instrument(skip_all, fields(etl.process))]
fn extract(input: &Path) -> Result<(usize, Vec<Order>), EtlError> {
    Span::current().add_input(dataset(input));
    let rows = read_csv(input)?;
    let read = rows.len();
    Span::current().record_rows_in(read as u64);
    let orders = validate(rows)?;
    record_volume(read, orders.len(), &[], &[ORDERS]);
    Ok((read, orders))
}

#[instrument(skip_all, err, fields(etl.step, path = %input.display()))]
fn read_csv(input: &Path) -> Result<Vec<RawOrder>, EtlError> {
    Span::current().add_input(dataset(input));
    let read_err = |source| EtlError::Read {
        path: input.to_owned(),
        source,
    };
    let mut reader = csv::Reader::from_path(input).map_err(read_err)?;
    let rows = reader
        .deserialize()
        .collect::<Result<Vec<RawOrder>, _>>()
        .map_err(read_err)?;
    tracing::info!(rows = rows.len(), "read orders");
    record_volume(rows.len(), rows.len(), &[], &[RAW_ORDERS]);
    Ok(rows)
}

#[instrument(skip_all, fields(etl.step, rows = rows.len()))]
fn validate(rows: Vec<RawOrder>) -> Result<Vec<Order>, EtlError> {
    let read = rows.len();
    Span::current().record_rows_in(read as u64);
    Span::current().add_input(RAW_ORDERS);
    let orders = rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| parse_order(i + 2, row)) // line 1 is the header
        .collect::<Result<Vec<_>, _>>()
        .inspect_err(tracing_etl::record_error)?;
    if orders.is_empty() {
        tracing_etl::record_error(&EtlError::Empty);
        return Err(EtlError::Empty);
    }
    record_volume(read, orders.len(), &[], &[ORDERS]);
    Ok(orders)
}

fn parse_order(line: usize, row: RawOrder) -> Result<Order, EtlError> {
    let invalid = |field, value: &str, expected| EtlError::InvalidField {
        line,
        field,
        value: value.to_owned(),
        expected,
    };
    if row.order_id.trim().is_empty() || row.customer.trim().is_empty() {
        return Err(invalid("order_id/customer", "", "present"));
    }
    let date = row
        .order_date
        .parse()
        .map_err(|_| invalid("order_date", &row.order_date, "a YYYY-MM-DD date"))?;
    let quantity = row
        .quantity
        .parse()
        .map_err(|_| invalid("quantity", &row.quantity, "a whole number"))?;
    let unit_price_cents = parse_cents(&row.unit_price)
        .ok_or_else(|| invalid("unit_price", &row.unit_price, "a price like 4.50"))?;
    Ok(Order {
        date,
        region: row.region,
        product: row.product,
        quantity,
        unit_price_cents,
    })
}

fn parse_cents(text: &str) -> Option<i64> {
    let (units, cents) = text.split_once('.').unwrap_or((text, "0"));
    if cents.len() > 2 {
        return None;
    }
    let cents: i64 = format!("{cents:0<2}").parse().ok()?;
    Some(units.parse::<i64>().ok()? * 100 + cents)
}

#[instrument(skip_all, fields(etl.process))]
fn transform(orders: Vec<Order>) -> Totals {
    let read = orders.len();
    let totals = aggregate(enrich(orders));
    record_volume(read, totals.len(), &[ORDERS], &[TOTALS]);
    totals
}

#[instrument(skip_all, fields(etl.step, orders = orders.len()))]
fn enrich(orders: Vec<Order>) -> Vec<Sale> {
    record_volume(orders.len(), orders.len(), &[ORDERS], &[SALES]);
    orders
        .into_iter()
        .map(|o| Sale {
            amount_cents: o.unit_price_cents * i64::from(o.quantity),
            date: o.date,
            region: o.region,
            product: o.product,
            quantity: o.quantity,
        })
        .collect()
}

#[instrument(skip_all, fields(etl.step, sales = sales.len()))]
fn aggregate(sales: Vec<Sale>) -> Totals {
    let read = sales.len();
    let mut totals = Totals::new();
    for sale in sales {
        let total = totals
            .entry((sale.date, sale.region, sale.product))
            .or_default();
        total.orders += 1;
        total.quantity += u64::from(sale.quantity);
        total.amount_cents += sale.amount_cents;
    }
    record_volume(read, totals.len(), &[SALES], &[TOTALS]);
    totals
}

#[instrument(skip_all, fields(etl.process))]
fn load(totals: &Totals, output: &Path) -> Result<(), EtlError> {
    write_output(totals, output)?;
    record_volume(totals.len(), totals.len(), &[TOTALS], &[&dataset(output)]);
    Ok(())
}

#[instrument(skip_all, err, fields(etl.step, path = %output.display()))]
fn write_output(totals: &Totals, output: &Path) -> Result<(), EtlError> {
    let write_err = |source| EtlError::Write {
        path: output.to_owned(),
        source,
    };
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(write_err)?;
    }
    let mut text = String::from("date,region,product,orders,quantity,amount\n");
    for ((date, region, product), t) in totals {
        text.push_str(&format!(
            "{date},{region},{product},{},{},{}.{:02}\n",
            t.orders,
            t.quantity,
            t.amount_cents / 100,
            t.amount_cents % 100
        ));
    }
    std::fs::write(output, text).map_err(write_err)?;
    tracing::info!(rows = totals.len(), "wrote daily totals");
    record_volume(totals.len(), totals.len(), &[TOTALS], &[&dataset(output)]);
    Ok(())
}

fn main() -> ExitCode {
    let matches = Args::command().get_matches();
    let args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let run_id = args
        .run_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());

    let url = match store_url(&args, &matches) {
        Ok(url) => url,
        Err(e) => {
            eprintln!("etl_job: {e}");
            return ExitCode::from(2);
        }
    };
    // An in-memory store is kept here too, to read the run back from.
    let memory = matches!(url, StoreUrl::Memory).then(InMemoryStore::new);
    // With a collector configured, entity spans are exported over OTLP too (the standard
    // OTEL_* variables say where and how; see otel-collector.yaml). The run is recorded in
    // the store either way.
    let otlp_configured = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|v| std::env::var_os(v).is_some_and(|value| !value.is_empty()));
    let otel = match otlp_configured.then(tracing_etl::otlp_from_env).transpose() {
        Ok(otel) => otel,
        Err(e) => {
            eprintln!("etl_job: {e}");
            return ExitCode::from(2);
        }
    };
    let mut builder = ExecutionRecordsLayer::builder();
    if let Some(otel) = &otel {
        builder = builder.with_tracer_provider(otel.tracer_provider());
    }
    // With the OpenLineage variables set, a run event for every entity too.
    #[cfg(feature = "openlineage")]
    match tracing_etl::lineage::OpenLineageConfig::from_env() {
        Ok(Some(lineage)) => builder = builder.with_lineage(lineage),
        Ok(None) => {}
        Err(e) => {
            eprintln!("etl_job: {e}");
            return ExitCode::from(2);
        }
    }
    // The writer opens the store itself: a history that cannot be opened yet (a full disk, a
    // server down) does not stop the job; its records wait in the spill file meanwhile.
    let (records, guard) = match &memory {
        Some(memory) => builder.build(memory.clone()),
        None => {
            let url = url.clone();
            builder.build_with(move || url.open())
        }
    };
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into())),
        )
        .with(records)
        .init();

    let result = daily_sales(&run_id, &args.input, &args.output);
    // Every record is in the store once the guard is dropped, and every span sent once the
    // OTLP guard is.
    drop(guard);
    drop(otel);

    if let Err(e) = print_summary(&url, memory, &run_id) {
        eprintln!("etl_job: cannot read the run back: {e}");
    }
    match result {
        Ok(rows) => {
            println!("wrote {rows} daily totals to {}", args.output.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("etl_job: run failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The store named by `url`, opened for reading (`memory`: the in-memory store written to).
fn reader(
    url: &StoreUrl,
    memory: Option<InMemoryStore>,
) -> Result<Box<dyn RecordReader>, StoreError> {
    Ok(match url {
        StoreUrl::Sqlite(path) => Box::new(SqliteStore::open_read_only(path)?),
        StoreUrl::JsonLines(dir) => Box::new(JsonLinesStore::open_read_only(dir)?),
        #[cfg(feature = "postgres")]
        StoreUrl::Postgres(pg) => Box::new(pg.builder().connect_read_only()?),
        #[cfg(feature = "delta")]
        StoreUrl::Delta(dir) => Box::new(tracing_etl::DeltaStore::open_read_only(dir)?),
        StoreUrl::Memory => Box::new(memory.unwrap_or_default()),
        other => {
            return Err(StoreError::other(format!(
                "no reader for {} stores",
                other.scheme()
            )))
        }
    })
}

/// Prints the run as recorded: the pipeline, its processes and steps.
fn print_summary(
    url: &StoreUrl,
    memory: Option<InMemoryStore>,
    run_id: &str,
) -> Result<(), StoreError> {
    let mut store = reader(url, memory)?;
    let run = RunFilter::default().run_id(run_id);
    let Some(pipeline) = store.read_pipelines(&run)?.pop() else {
        println!("run {run_id}: no record found in {}", url.redacted());
        return Ok(());
    };
    let processes = store.read_processes(&run)?;
    let steps = store.read_steps(&run)?;
    let ms = |d: Option<u64>| d.map_or("-".to_owned(), |d| format!("{d} ms"));
    println!(
        "run {}  {}  {}  {}",
        pipeline.run.run_id,
        pipeline.name,
        pipeline.outcome.status,
        ms(pipeline.outcome.duration_ms)
    );
    for process in &processes {
        println!(
            "  {:<12} {:<8} {}",
            process.name,
            process.outcome.status,
            ms(process.outcome.duration_ms)
        );
        for step in steps
            .iter()
            .filter(|s| s.process_run_id == process.process_run_id)
        {
            let cause = if pipeline.failed_step_run_id() == step.step_run_id.as_deref() {
                format!(
                    "  <- root cause: {}: {}",
                    step.outcome.error.type_name.as_deref().unwrap_or("error"),
                    step.outcome.error.message.as_deref().unwrap_or("")
                )
            } else {
                String::new()
            };
            println!(
                "    {:<12} {:<8} {}{cause}",
                step.name,
                step.outcome.status,
                ms(step.outcome.duration_ms)
            );
        }
    }
    if pipeline.outcome.status == RunStatus::Failed {
        println!(
            "failed step: {} ({})",
            pipeline.failed_step().unwrap_or("-"),
            pipeline.outcome.error.message.as_deref().unwrap_or("-")
        );
    }
    if let Some(trace_id) = &pipeline.trace_id {
        println!("trace: {trace_id}  (Jaeger: http://localhost:16686/trace/{trace_id})");
    }
    match url {
        StoreUrl::Memory => println!("run history: memory: (gone when the job exits)"),
        url => println!("run history: {}", url.redacted()),
    }
    Ok(())
}
