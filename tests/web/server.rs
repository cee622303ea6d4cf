//! The server as a child process on a free loopback port, and a plain HTTP/1.1 client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `tracing-etl serve`, stopped when dropped.
pub struct Server {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// What it printed on stderr up to the line that says where it listens.
    pub startup: String,
    /// Reads the rest of its stderr (so that it never blocks on a full pipe), and hands it over
    /// once the server has exited.
    rest: Option<std::thread::JoinHandle<String>>,
}

impl Server {
    /// Serves the store at `store_url` (`sqlite:…`, `jsonl:…`) with the extra `args`.
    pub fn start(store_url: &str, args: &[&str]) -> Server {
        Server::start_on(store_url, "127.0.0.1:0", args)
    }

    /// Serves on `addr` (port 0: a free one).
    pub fn start_on(store_url: &str, addr: &str, args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tracing-etl"))
            .env_remove("TRACING_ETL_STORE")
            .env_remove("TRACING_ETL_DB")
            .env_remove("TRACING_ETL_POSTGRES")
            .env_remove("TRACING_ETL_PG_SCHEMA")
            .env_remove("TRACING_ETL_TRACE_URL")
            .env_remove("TRACING_ETL_SERVE_TOKEN")
            .args(["--store", store_url, "serve", "--addr", addr])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tracing-etl serve");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        let addr = loop {
            let mut line = String::new();
            if stderr.read_line(&mut line).unwrap() == 0 {
                let status = child.wait().unwrap();
                panic!("tracing-etl serve exited ({status}) before listening: {seen}");
            }
            seen.push_str(&line);
            if let Some(rest) = line
                .trim()
                .strip_prefix("tracing-etl: listening on http://")
            {
                let addr = rest.trim_end_matches('/');
                // A wildcard address is reached through loopback.
                break addr.replace("0.0.0.0", "127.0.0.1");
            }
        };
        // Keep draining stderr so that the server never blocks on a full pipe.
        let rest = std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = stderr.read_to_string(&mut rest);
            rest
        });
        Server {
            child,
            addr,
            startup: seen,
            rest: Some(rest),
        }
    }

    /// Sends `signal` (`TERM`, `INT`) to the server and waits for it to exit (a minute at most,
    /// then it is killed and the test fails): its exit status and what it printed on stderr
    /// after it started listening.
    pub fn stop_with(mut self, signal: &str) -> (std::process::ExitStatus, String) {
        let sent = Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -s {signal}: {sent}");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("tracing-etl serve did not exit within a minute of SIG{signal}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let rest = self.rest.take().unwrap().join().unwrap();
        (status, rest)
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Response {
        self.get_with(path, &[])
    }

    /// `GET path` with extra request headers.
    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        Response::parse(&raw)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    fn parse(raw: &[u8]) -> Response {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a complete HTTP response");
        let head = std::str::from_utf8(&raw[..split]).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (name, value) = l.split_once(':').unwrap();
                (name.trim().to_ascii_lowercase(), value.trim().to_owned())
            })
            .collect();
        let mut body = raw[split + 4..].to_vec();
        if headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
        {
            body = dechunk(&body);
        }
        Response {
            status,
            headers,
            body: String::from_utf8(body).unwrap(),
        }
    }

    /// The value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// Asserts the status and that the body is HTML.
    pub fn html(self, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        assert!(
            self.header("content-type")
                .unwrap_or("")
                .starts_with("text/html"),
            "{:?}",
            self.headers
        );
        self.body
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = std::str::from_utf8(&body[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        body = &body[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}
