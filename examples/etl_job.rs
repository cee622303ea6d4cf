//! A small, real ETL job: daily sales per region and product from an orders CSV.
//!
//! ```text
//! cargo run --example etl_job                                   # examples/data/orders.csv
//! cargo run --example etl_job -- --input examples/data/orders_bad.csv   # fails in `validate`
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 cargo run --example etl_job  # + traces
//! ```
//!
//! The job is one pipeline (`daily_sales`) of three processes (`extract`, `transform`, `load`)
//! and five steps. Every run is recorded in the SQLite file named by `TRACING_ETL_DB` (default
//! `tracing-etl.db`); the job prints a summary of the run read back from that file, and exits
//! non-zero when the run failed. When `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, every pipeline, process and step is also sent
//! as an OpenTelemetry span over OTLP (`OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf`, the
//! default, or `grpc`), and the summary shows the run's trace id.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use serde::Deserialize;
use tracing::instrument;
use tracing_etl::{ExecutionRecordsLayer, RunStatus, SqliteStore};
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
    /// SQLite file of the run history.
    #[arg(long, env = "TRACING_ETL_DB", default_value = "tracing-etl.db")]
    db: PathBuf,
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

#[instrument(skip_all, fields(etl.pipeline = "daily_sales", etl.run_id = %run_id))]
fn daily_sales(run_id: &str, input: &Path, output: &Path) -> Result<usize, EtlError> {
    let orders = extract(input)?;
    let totals = transform(orders);
    load(&totals, output)?;
    Ok(totals.len())
}

#[instrument(skip_all, fields(etl.process))]
fn extract(input: &Path) -> Result<Vec<Order>, EtlError> {
    let rows = read_csv(input)?;
    validate(rows)
}

#[instrument(skip_all, err, fields(etl.step, path = %input.display()))]
fn read_csv(input: &Path) -> Result<Vec<RawOrder>, EtlError> {
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
    Ok(rows)
}

#[instrument(skip_all, fields(etl.step, rows = rows.len()))]
fn validate(rows: Vec<RawOrder>) -> Result<Vec<Order>, EtlError> {
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
    aggregate(enrich(orders))
}

#[instrument(skip_all, fields(etl.step, orders = orders.len()))]
fn enrich(orders: Vec<Order>) -> Vec<Sale> {
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
    let mut totals = Totals::new();
    for sale in sales {
        let total = totals
            .entry((sale.date, sale.region, sale.product))
            .or_default();
        total.orders += 1;
        total.quantity += u64::from(sale.quantity);
        total.amount_cents += sale.amount_cents;
    }
    totals
}

#[instrument(skip_all, fields(etl.process))]
fn load(totals: &Totals, output: &Path) -> Result<(), EtlError> {
    write_output(totals, output)
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
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let run_id = args
        .run_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());

    let store = match SqliteStore::open(&args.db) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("etl_job: {e}");
            return ExitCode::from(2);
        }
    };
    // With a collector configured, entity spans are exported over OTLP too (the standard
    // OTEL_* variables say where and how; see otel-collector.yaml). The run is recorded in
    // SQLite either way.
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
    let (records, guard) = builder.build(store);
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into())),
        )
        .with(records)
        .init();

    let result = daily_sales(&run_id, &args.input, &args.output);
    // Every record is in the database once the guard is dropped, and every span sent once
    // the OTLP guard is.
    drop(guard);
    drop(otel);

    if let Err(e) = print_summary(&args.db, &run_id) {
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

/// Prints the run as recorded: the pipeline, its processes and steps.
fn print_summary(db: &Path, run_id: &str) -> Result<(), tracing_etl::StoreError> {
    let store = SqliteStore::open_read_only(db)?;
    let pipeline = store
        .pipeline_runs()?
        .into_iter()
        .find(|p| p.run.run_id == run_id);
    let Some(pipeline) = pipeline else {
        println!("run {run_id}: no record found in {}", db.display());
        return Ok(());
    };
    let processes: Vec<_> = store
        .process_runs()?
        .into_iter()
        .filter(|p| p.run.run_id == run_id)
        .collect();
    let steps: Vec<_> = store
        .step_runs()?
        .into_iter()
        .filter(|s| s.run.run_id == run_id)
        .collect();
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
    println!("run history: {}", db.display());
    Ok(())
}
