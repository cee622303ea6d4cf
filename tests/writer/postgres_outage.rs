//! A PostgreSQL outage longer than the writer's queue: the server becomes unreachable mid-run
//! (a TCP proxy in front of the real server stops forwarding and cuts every connection), the job
//! keeps running without blocking while the writer keeps the records in memory and then in its
//! spill file, and once the server is reachable again every record arrives exactly once. And a
//! table locked by another session, which stalls the store's writes without failing them.

use crate::pg_support;

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::field::Empty;
use tracing_etl::{
    store::{RecordReader, RunFilter},
    ExecutionRecordsLayer, PostgresStore, RunStatus,
};
use tracing_subscriber::prelude::*;

/// A TCP proxy to the test server that can be taken down (refusing and cutting connections) and
/// brought back.
pub struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(upstream: SocketAddr) -> Proxy {
        Proxy::start_on(TcpListener::bind("127.0.0.1:0").unwrap(), upstream)
    }

    /// A proxy taking connections from `listener`.
    pub fn start_on(listener: TcpListener, upstream: SocketAddr) -> Proxy {
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let (up2, connections2) = (up.clone(), connections.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !up2.load(Ordering::SeqCst) {
                    drop(client); // the server is "down": the connection closes at once
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let mut live = connections2.lock().unwrap();
                live.push(client.try_clone().unwrap());
                live.push(server.try_clone().unwrap());
                drop(live);
                pump(client.try_clone().unwrap(), server.try_clone().unwrap());
                pump(server, client);
            }
        });
        Proxy {
            addr,
            up,
            connections,
        }
    }

    fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for stream in self.connections.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let _ = io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// The test server's address, from its connection string (`TRACING_ETL_TEST_PG`,
/// 127.0.0.1:5432 by default).
pub fn test_server() -> SocketAddr {
    let config: tokio_postgres::Config = pg_support::url().parse().unwrap();
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    (host.as_str(), port)
        .to_socket_addrs()
        .unwrap()
        .next()
        .expect("the test server's address")
}

/// A connection string for the test server's user and database at 127.0.0.1:`port`.
pub fn through(port: u16) -> String {
    let config: tokio_postgres::Config = pg_support::url().parse().unwrap();
    format!(
        "host=127.0.0.1 port={port} user={} dbname={} connect_timeout=2",
        config.get_user().unwrap_or("postgres"),
        config.get_dbname().unwrap_or("test"),
    )
}

fn pipeline(name: &str, steps: usize) {
    let _p = tracing::info_span!("run", etl.pipeline = name, etl.run_id = name).entered();
    let _proc = tracing::info_span!("load", etl.process = Empty).entered();
    for i in 0..steps {
        let _s = tracing::info_span!("write", etl.step = Empty, row = i).entered();
    }
}

#[test]
fn a_server_down_for_longer_than_the_queue_loses_nothing_and_blocks_nothing() {
    const BEFORE: usize = 50;
    const DURING: usize = 1_500;
    const AFTER: usize = 50;
    let mut schema = pg_support::TestSchema::new("server_down");
    let proxy = Proxy::start(test_server());
    let url = through(proxy.addr.port());
    let store = PostgresStore::builder(url.clone())
        .schema(schema.name.clone())
        .connect()
        .unwrap();

    let spill = tempfile::tempdir().unwrap();
    let errors = Arc::new(AtomicU64::new(0));
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .queue_capacity(64)
        .max_batch(256)
        .outage_buffer(200)
        .spill_dir(spill.path())
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .on_store_error({
            let errors = errors.clone();
            move |_| {
                errors.fetch_add(1, Ordering::SeqCst);
            }
        })
        .build(store);
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        pipeline("before", BEFORE);
        guard.flush().expect("the server is up");

        proxy.down();
        let started = Instant::now();
        pipeline("during", DURING);
        // Far more records than the queue holds went through while the server was down.
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the job was blocked by the outage"
        );
        let during = guard.stats();
        assert!(during.spilled > 0, "{during:?}");
        assert!(errors.load(Ordering::SeqCst) >= 1, "the outage is reported");
        assert!(guard.flush().is_err(), "a flush during the outage says so");

        proxy.up();
        pipeline("after", AFTER);
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while guard.flush().is_err() {
        assert!(Instant::now() < deadline, "the store never recovered");
        std::thread::sleep(Duration::from_millis(50));
    }
    let stats = guard.shutdown().unwrap();

    let entities = 3 * 2 + BEFORE + DURING + AFTER;
    assert_eq!(stats.written, 2 * entities as u64);
    assert_eq!(stats.dropped + stats.abandoned, 0, "{stats:?}");
    assert_eq!(
        std::fs::read_dir(spill.path()).unwrap().count(),
        0,
        "the spill file is removed once the store took everything"
    );

    // Exactly once: one row per entity, each ended.
    assert_eq!(schema.count("pipeline_runs", ""), 3);
    assert_eq!(schema.count("process_runs", ""), 3);
    assert_eq!(
        schema.count("step_runs", "") as usize,
        BEFORE + DURING + AFTER
    );
    assert_eq!(schema.count("step_runs", "WHERE status <> 'success'"), 0);
    let mut reader = PostgresStore::builder(pg_support::url())
        .schema(schema.name.clone())
        .connect_read_only()
        .unwrap();
    let runs = reader.read_pipelines(&RunFilter::default()).unwrap();
    let names: Vec<_> = runs.iter().map(|r| r.run.run_id.as_str()).collect();
    assert_eq!(names, ["before", "during", "after"]);
    assert!(runs.iter().all(|r| r.outcome.status == RunStatus::Success));
}

/// Another session holds `LOCK TABLE … IN ACCESS EXCLUSIVE MODE` on the step table for 3 s,
/// well within the store's statement timeout (30 s): the store's writes wait for the lock, and
/// the job does not wait for them beyond the store deadline. The outage is reported, and every
/// record arrives once the lock is gone.
#[test]
fn a_table_locked_by_another_session_does_not_hold_up_the_job() {
    const STEPS: usize = 3_000;
    const HOLD: Duration = Duration::from_secs(3);
    const DEADLINE: Duration = Duration::from_millis(200);
    let mut schema = pg_support::TestSchema::new("locked");
    let store = schema.store();
    let spill = tempfile::tempdir().unwrap();
    let deadlines = Arc::new(AtomicU64::new(0));
    let config = tracing_etl::writer::WriterConfig::default()
        .with_queue_capacity(64)
        .with_max_batch(64)
        .with_spill_dir(spill.path())
        .with_store_deadline(DEADLINE)
        .with_retry_backoff(Duration::from_millis(10), Duration::from_millis(50))
        .with_store_error_callback({
            let deadlines = deadlines.clone();
            move |e| {
                if tracing_etl::writer::StoreDeadlineExceeded::of(e).is_some() {
                    deadlines.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .with_writer_config(config)
        .build(store);
    let table = schema.table("step_runs");
    let released = Arc::new(AtomicBool::new(false));
    let (longest, while_locked) =
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            pipeline("before", 50);
            guard.flush().expect("the server is up");
            let (locked_tx, locked) = std::sync::mpsc::channel();
            let locker = std::thread::spawn({
                let released = released.clone();
                move || {
                    let mut other = pg_support::admin();
                    let mut tx = other.transaction().unwrap();
                    tx.batch_execute(&format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
                        .unwrap();
                    locked_tx.send(()).unwrap();
                    std::thread::sleep(HOLD);
                    released.store(true, Ordering::SeqCst);
                    tx.commit().unwrap();
                }
            });
            locked.recv().unwrap();
            let _p = tracing::info_span!("run", etl.pipeline = "locked", etl.run_id = "locked")
                .entered();
            let (mut longest, mut while_locked) = (Duration::ZERO, 0);
            for _ in 0..STEPS {
                while_locked += usize::from(!released.load(Ordering::SeqCst));
                let started = Instant::now();
                drop(tracing::info_span!("write", etl.step = Empty).entered());
                longest = longest.max(started.elapsed());
            }
            locker.join().unwrap();
            (longest, while_locked)
        });
    eprintln!(
        "{while_locked} steps began while the table was locked for {HOLD:?}; the longest took \
         {longest:?}"
    );
    // Counted, not timed: with a queue of 64 records (two a step), a job that waited for the
    // store would begin at most about 32 steps while the table is locked.
    assert!(
        while_locked > 4 * 32,
        "only {while_locked} steps began while the table was locked"
    );
    let started = Instant::now();
    while guard.flush().is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the store never caught up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let stats = guard.shutdown().unwrap();
    assert_eq!((stats.dropped, stats.abandoned), (0, 0), "{stats:?}");
    assert!(
        deadlines.load(Ordering::SeqCst) >= 1,
        "the outage was reported"
    );
    assert_eq!(
        schema.count("step_runs", "WHERE status = 'success'") as usize,
        50 + STEPS
    );
    assert_eq!(schema.count("pipeline_runs", "WHERE status = 'success'"), 2);
}

/// Nothing listens at the store's address when the job starts (`build_with`): the job records
/// without waiting, the records wait in memory and the spill file, each connect is retried with
/// back-off, and once the server answers there (a proxy to the test server started on that
/// port) every record arrives exactly once.
#[test]
fn a_server_not_listening_when_the_job_starts_gets_every_record_once_it_is() {
    const STEPS: usize = 300;
    let mut schema = pg_support::TestSchema::new("down_at_start");
    // A port nothing listens on: taken from the system, then let go.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = through(port);
    let spill = tempfile::tempdir().unwrap();
    let errors = Arc::new(AtomicU64::new(0));
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .outage_buffer(100)
        .spill_dir(spill.path())
        .retry_backoff(Duration::from_millis(5), Duration::from_millis(100))
        .on_store_error({
            let errors = errors.clone();
            move |_| {
                errors.fetch_add(1, Ordering::SeqCst);
            }
        })
        .build_with({
            let name = schema.name.clone();
            move || {
                PostgresStore::builder(url.clone())
                    .schema(name.clone())
                    .connect()
            }
        });
    let handle = guard.handle();
    let longest =
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            let _p =
                tracing::info_span!("run", etl.pipeline = "down", etl.run_id = "down").entered();
            let mut longest = Duration::ZERO;
            for _ in 0..STEPS {
                let started = Instant::now();
                drop(tracing::info_span!("write", etl.step = Empty).entered());
                longest = longest.max(started.elapsed());
            }
            longest
        });
    eprintln!("the longest step took {longest:?} with nothing listening");
    let deadline = Instant::now() + Duration::from_secs(30);
    while errors.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the outage is reported");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(handle.stats().written, 0);
    assert!(guard.flush().is_err(), "a flush during the outage says so");

    let _proxy = Proxy::start_on(
        TcpListener::bind(("127.0.0.1", port)).expect("the port is still free"),
        test_server(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while guard.flush().is_err() {
        assert!(Instant::now() < deadline, "the store never opened");
        std::thread::sleep(Duration::from_millis(50));
    }
    let stats = guard.shutdown().unwrap();
    let total = 2 * (STEPS as u64 + 1);
    assert_eq!(
        (stats.written, stats.dropped, stats.abandoned),
        (total, 0, 0)
    );
    assert_eq!(std::fs::read_dir(spill.path()).unwrap().count(), 0);
    assert_eq!(schema.count("pipeline_runs", "WHERE status = 'success'"), 1);
    assert_eq!(
        schema.count("step_runs", "WHERE status = 'success'") as usize,
        STEPS
    );
}
