//! `posthog-standin [ADDR]`: serves the stand-in PostHog API (see the
//! library) on ADDR (default 127.0.0.1:8080) until killed. The expected key
//! is read from the environment variable `POSTHOG_KEY`.

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let Ok(key) = std::env::var("POSTHOG_KEY") else {
        eprintln!("error: set POSTHOG_KEY to the key the stand-in should accept");
        std::process::exit(2);
    };
    let server = match posthog_standin::Server::start(&addr, &key) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("error: cannot listen on {addr}: {error}");
            std::process::exit(1);
        }
    };
    println!("posthog-standin: listening on http://{}", server.addr());
    loop {
        std::thread::park();
    }
}
