//! A real OpenLineage HTTP endpoint for the tests: a small HTTP/1.1 server on a loopback port
//! that keeps every event `POST`ed to it, answers with the status it is told to, and can be
//! stopped and started again on the same port.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// One request the receiver took.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub authorization: Option<String>,
    pub event: Value,
}

#[derive(Default)]
struct State {
    received: Mutex<Vec<Received>>,
    /// The status of every answer (200 unless set).
    status: AtomicU16,
    /// Requests seen (answered or refused).
    requests: AtomicUsize,
    /// Request numbers (1-based) answered 503 whatever `status` says.
    fail_requests: Mutex<Vec<usize>>,
}

/// The endpoint. Events answered 2xx are kept; others are counted and dropped.
pub struct LineageReceiver {
    addr: SocketAddr,
    state: Arc<State>,
    server: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl LineageReceiver {
    /// A receiver on a free loopback port, running.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut receiver = LineageReceiver {
            addr: listener.local_addr().unwrap(),
            state: Arc::new(State {
                status: AtomicU16::new(200),
                ..State::default()
            }),
            server: None,
        };
        receiver.serve(listener);
        receiver
    }

    /// A receiver whose port is reserved but not listening: connections are refused until
    /// [`resume`](Self::resume).
    pub fn stopped() -> Self {
        let mut receiver = Self::start();
        receiver.stop();
        receiver
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers every later request with `status`.
    pub fn answer(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    /// Answers the requests numbered `numbers` (1-based, counting every request) with 503.
    pub fn fail_requests(&self, numbers: &[usize]) {
        *self.state.fail_requests.lock().unwrap() = numbers.to_vec();
    }

    /// Requests seen so far.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Stops listening (the port then refuses connections) and closes open connections.
    pub fn stop(&mut self) {
        if let Some((stop, thread)) = self.server.take() {
            stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(self.addr);
            thread.join().unwrap();
        }
    }

    /// Listens again on the same port.
    pub fn resume(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(self.addr) {
                Ok(listener) => break listener,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("cannot listen on {} again: {e}", self.addr),
            }
        };
        self.serve(listener);
    }

    /// Every event kept so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// The events kept so far.
    pub fn events(&self) -> Vec<Value> {
        self.received().into_iter().map(|r| r.event).collect()
    }

    /// Waits (at most 30 s) until `n` events are kept.
    pub fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.state.received.lock().unwrap().len() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.events()
    }

    fn serve(&mut self, listener: TcpListener) {
        let stop = Arc::new(AtomicBool::new(false));
        let state = self.state.clone();
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut connections = Vec::new();
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let state = state.clone();
                let stopping = stopping.clone();
                let keep = stream.try_clone().unwrap();
                connections.push(keep);
                std::thread::spawn(move || serve_connection(stream, &state, &stopping));
            }
            for connection in connections {
                let _ = connection.shutdown(std::net::Shutdown::Both);
            }
        });
        self.server = Some((stop, thread));
    }
}

impl Drop for LineageReceiver {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve_connection(stream: TcpStream, state: &State, stopping: &AtomicBool) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let mut length = 0;
        let mut authorization = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap(),
                    "authorization" => authorization = Some(value.trim().to_owned()),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() || stopping.load(Ordering::SeqCst) {
            return;
        }
        let number = state.requests.fetch_add(1, Ordering::SeqCst) + 1;
        let status = if state.fail_requests.lock().unwrap().contains(&number) {
            503
        } else {
            state.status.load(Ordering::SeqCst)
        };
        if (200..300).contains(&status) {
            let event = serde_json::from_slice(&body).expect("an event is JSON");
            state.received.lock().unwrap().push(Received {
                path,
                authorization,
                event,
            });
        }
        let (reason, text) = if (200..300).contains(&status) {
            ("OK", "")
        } else {
            ("Refused", "event refused")
        };
        let answer = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}
