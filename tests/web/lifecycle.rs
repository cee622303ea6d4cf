//! How `serve` stops: SIGTERM and SIGINT end it with status 0.

use crate::histories::{History, Kind};
use crate::server::Server;

#[test]
fn sigterm_and_sigint_stop_the_server_with_status_0() {
    let history = History::new(Kind::Sqlite);
    for signal in ["TERM", "INT"] {
        let server = Server::start(&history.url(), &[]);
        assert_eq!(server.get("/").status, 200);
        let addr = server.addr.clone();
        let (status, stderr) = server.stop_with(signal);
        assert_eq!(status.code(), Some(0), "SIG{signal}: {status}, {stderr}");
        assert!(
            stderr.contains("tracing-etl: stopping"),
            "SIG{signal}: {stderr}"
        );
        assert!(
            std::net::TcpStream::connect(&addr).is_err(),
            "SIG{signal}: {addr} still listens"
        );
    }
}
