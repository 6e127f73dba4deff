//! greenws's hello server for the HTTP benchmark, with the same arguments
//! as the other contenders: `greenws-hello PORT WORKERS`. No access log.

use greenws::{Request, Response, WsgiServer};

fn main() -> greenws::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(8000);
    let workers: usize = args.next().and_then(|w| w.parse().ok()).unwrap_or(1);
    green::Config::new()
        .workers(workers)
        .apply()
        .expect("settings apply at start");
    let server = WsgiServer::bind(("127.0.0.1", port))?;
    println!("Serving on http://{}", server.local_addr());
    server.serve_forever(|_req: &mut Request| Response::text("Hello, World!"))
}
