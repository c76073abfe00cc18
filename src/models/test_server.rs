//! A tiny HTTP/1.1 file server on `127.0.0.1:0` for the pull tests: Range requests (206,
//! 416), HEAD, a mode that ignores Range, a mode that cuts the first body short, fixed
//! answers (a status, headers, a JSON body — enough to fake the Hugging Face API), routes
//! that demand a bearer token, 404 for unknown paths, and a log of the requests it saw
//! (method, range, authorization, body). One connection at a time, `Connection: close`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How a path is served.
#[derive(Clone, Default)]
pub struct Route {
    pub body: Vec<u8>,
    /// Answer 200 with the whole body even to Range requests.
    pub ignore_range: bool,
    /// Answer every Range request with 416.
    pub refuse_range: bool,
    /// Cut the first response's body after this many bytes (the header promises them all).
    pub cut_first_after: Option<usize>,
    /// Answer every request with this status and the whole body (no Range handling).
    pub status: Option<u16>,
    /// Extra response headers, e.g. `("X-Error-Code", "GatedRepo")`.
    pub headers: Vec<(String, String)>,
    /// Answer 401 unless the request carries `Authorization: Bearer <this>`.
    pub bearer: Option<String>,
}

impl Route {
    pub fn new(body: impl Into<Vec<u8>>) -> Route {
        Route {
            body: body.into(),
            ..Route::default()
        }
    }

    /// A fixed answer: `status` with `body`.
    pub fn fixed(status: u16, body: impl Into<Vec<u8>>) -> Route {
        Route {
            status: Some(status),
            ..Route::new(body)
        }
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
    pub authorization: Option<String>,
    pub body: String,
    pub status: u16,
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Route>,
    served: HashMap<String, usize>,
    log: Vec<Seen>,
}

pub struct TestServer {
    base: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    pub fn start(routes: impl IntoIterator<Item = (&'static str, Route)>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            routes: routes.into_iter().map(|(p, r)| (p.to_owned(), r)).collect(),
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                // Bounded: a test makes a handful of requests.
                for stream in listener.incoming().take(1000) {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        serve(stream, &state);
                    }
                }
            })
        };
        TestServer {
            base,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn log(&self) -> Vec<Seen> {
        self.state.lock().unwrap().log.clone()
    }

    /// Adds or replaces a route while the server runs.
    pub fn route(&self, path: &str, route: Route) {
        self.state
            .lock()
            .unwrap()
            .routes
            .insert(path.to_owned(), route);
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.base.trim_start_matches("http://"));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() || request_line.is_empty() {
        return;
    }
    let mut words = request_line.split_whitespace();
    let method = words.next().unwrap_or("GET").to_owned();
    let path = words.next().unwrap_or("/").to_owned();
    let (mut range, mut authorization, mut length) = (None, None, 0usize);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim().to_owned();
            match name.trim().to_ascii_lowercase().as_str() {
                "range" => range = Some(value),
                "authorization" => authorization = Some(value),
                "content-length" => length = value.parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    let mut request_body = vec![0; length];
    let _ = reader.read_exact(&mut request_body);
    let mut stream = reader.into_inner();

    let mut state = state.lock().unwrap();
    let route = state.routes.get(&path).cloned();
    let times_served = *state.served.entry(path.clone()).or_default();
    state.served.insert(path.clone(), times_served + 1);
    let authorised = |r: &Route| {
        r.bearer
            .as_ref()
            .is_none_or(|t| authorization.as_deref() == Some(&format!("Bearer {t}")))
    };
    let (status, head, body): (u16, String, &[u8]) = match &route {
        None => (404, String::new(), b"not found"),
        Some(route) if !authorised(route) => (401, String::new(), b"{\"error\":\"unauthorized\"}"),
        Some(route) if route.status.is_some() => {
            let extra: String = route
                .headers
                .iter()
                .map(|(k, v)| format!("{k}: {v}\r\n"))
                .collect();
            (route.status.unwrap_or(200), extra, &route.body[..])
        }
        Some(route) => {
            let len = route.body.len();
            let start = range
                .as_deref()
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|s| s.parse::<usize>().ok());
            match start {
                Some(_) if route.refuse_range => {
                    (416, format!("Content-Range: bytes */{len}\r\n"), &[][..])
                }
                Some(start) if !route.ignore_range && start >= len => {
                    (416, format!("Content-Range: bytes */{len}\r\n"), &[][..])
                }
                Some(start) if !route.ignore_range => (
                    206,
                    format!("Content-Range: bytes {start}-{}/{len}\r\n", len - 1),
                    &route.body[start..],
                ),
                _ => (200, String::new(), &route.body[..]),
            }
        }
    };
    state.log.push(Seen {
        method: method.clone(),
        path,
        range,
        authorization,
        body: String::from_utf8_lossy(&request_body).into_owned(),
        status,
    });
    let cut = route
        .as_ref()
        .and_then(|r| r.cut_first_after)
        .filter(|_| times_served == 0 && status / 100 == 2);
    let sent = cut.map_or(body, |n| &body[..n.min(body.len())]);
    let reason = match status {
        200 => "OK",
        206 => "Partial Content",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        _ => "Other",
    };
    let header = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\n{head}Connection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(header.as_bytes());
    if method != "HEAD" {
        let _ = stream.write_all(sent);
    }
    let _ = stream.flush();
}
