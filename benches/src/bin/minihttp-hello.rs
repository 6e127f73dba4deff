//! may_minihttp's hello server: the HTTP ceiling on the same runtime.
//!
//! `minihttp-hello PORT WORKERS|default` answers every request with
//! `Hello, World!`.

use std::io;

use may_minihttp::{HttpServer, HttpService, Request, Response};

#[derive(Clone)]
struct Hello;

impl HttpService for Hello {
    fn call(&mut self, _req: Request, res: &mut Response) -> io::Result<()> {
        res.header("Content-Type: text/plain; charset=utf-8")
            .body("Hello, World!");
        Ok(())
    }
}

fn main() {
    let benches::peer::ServerArgs { port, workers, .. } = benches::peer::server_args();
    if let Some(workers) = workers {
        may::config().set_workers(workers);
    }
    let server = HttpServer(Hello)
        .start(("127.0.0.1", port))
        .expect("may_minihttp starts");
    println!("Serving on http://127.0.0.1:{port}");
    server.join().ok();
}
