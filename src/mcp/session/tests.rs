//! Session tests over a scripted transport.

use super::*;

type Log<T> = Arc<Mutex<Vec<T>>>;
type Answer = Box<dyn Fn(&Value) -> Option<Value> + Send + Sync>;

/// A transport that answers from a script, through the inbox, like Streamable HTTP.
struct Scripted {
    inbox: Arc<Inbox>,
    answer: Answer,
    sent: Log<Value>,
}

thread_local! {
    /// Set by a test: the next `tools/list` on this thread gets a 404 (the server ended the
    /// session).
    static EXPIRE_NEXT_LIST: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl Transport for Scripted {
    fn kind(&self) -> &'static str {
        "scripted"
    }
    fn send(&self, msg: &Value, _timeout: Duration) -> Result<(), McpError> {
        if msg["method"] == "tools/list" && EXPIRE_NEXT_LIST.with(|e| e.replace(false)) {
            return Err(McpError::SessionExpired);
        }
        lock(&self.sent).push(msg.clone());
        if let Some(a) = (self.answer)(msg) {
            for reply in self.inbox.dispatch_text(&a.to_string()) {
                lock(&self.sent).push(reply);
            }
        }
        Ok(())
    }
    fn reset(&self) {
        lock(&self.sent).push(json!({"reset": true}));
    }
    fn close(&self) {}
}

fn session(
    answer: impl Fn(&Value) -> Option<Value> + Send + Sync + 'static,
) -> (Session, Log<Value>, Log<SessionEvent>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    let inbox = Inbox::new("t", Box::new(move |e| lock(&ev).push(e)));
    let sent = Arc::new(Mutex::new(Vec::new()));
    let t = Scripted {
        inbox: inbox.clone(),
        answer: Box::new(answer),
        sent: sent.clone(),
    };
    (Session::new("t", Box::new(t), inbox), sent, events)
}

fn reply(msg: &Value, result: Value) -> Option<Value> {
    Some(json!({"jsonrpc": "2.0", "id": msg["id"], "result": result}))
}

#[test]
fn initialize_accepts_older_revisions_and_refuses_unknown_ones() {
    for (v, ok) in [
        ("2025-06-18", true),
        ("2024-11-05", true),
        ("2023-01-01", false),
    ] {
        let (s, sent, _) = session(move |m| {
            (m["method"] == "initialize")
                .then(|| {
                    reply(
                        m,
                        json!({"protocolVersion": v, "capabilities": {"tools": {}}}),
                    )
                })
                .flatten()
        });
        let r = s.initialize(Duration::from_secs(1));
        assert_eq!(r.is_ok(), ok, "{v}: {r:?}");
        let sent = lock(&sent);
        assert_eq!(sent[0]["params"]["protocolVersion"], PROTOCOL_VERSION);
        assert_eq!(sent[0]["params"]["clientInfo"]["name"], "hearth");
        if ok {
            assert_eq!(sent[1]["method"], "notifications/initialized");
        } else {
            assert!(r.unwrap_err().to_string().contains("2023-01-01"));
        }
    }
}

#[test]
fn tools_list_follows_cursors_and_server_requests_are_answered() {
    let (s, sent, events) = session(|m| match m["params"]["cursor"].as_str() {
        _ if m.get("id").is_none() => None,
        None => Some(json!([
            {"jsonrpc": "2.0", "id": "srv-1", "method": "ping"},
            {"jsonrpc": "2.0", "id": 9, "method": "sampling/createMessage", "params": {}},
            {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"},
            {"jsonrpc": "2.0", "id": m["id"], "result": {"tools": [{"name": "a"}], "nextCursor": "p2"}},
        ])),
        Some("p2") => reply(m, json!({"tools": [{"name": "b"}]})),
        Some(_) => None,
    });
    let tools = s.list_tools(Duration::from_secs(1)).unwrap();
    assert_eq!(tools, [json!({"name": "a"}), json!({"name": "b"})]);
    let sent = lock(&sent);
    assert_eq!(
        sent[1],
        json!({"jsonrpc": "2.0", "id": "srv-1", "result": {}})
    );
    assert_eq!(sent[2]["error"]["code"], jsonrpc::METHOD_NOT_FOUND);
    assert_eq!(*lock(&events), [SessionEvent::ToolsChanged]);
}

#[test]
fn an_unanswered_request_times_out_and_is_cancelled_and_a_lost_connection_fails_fast() {
    let (s, sent, _) = session(|_| None);
    let e = s
        .call_tool("hang", &Value::Null, Duration::from_millis(50))
        .unwrap_err();
    assert!(
        matches!(e, McpError::Timeout { ref what, .. } if what == "tools/call"),
        "{e}"
    );
    let sent = lock(&sent).clone();
    assert_eq!(sent[0]["params"]["arguments"], json!({}));
    assert_eq!(sent[1]["method"], "notifications/cancelled");
    assert_eq!(sent[1]["params"]["requestId"], sent[0]["id"]);
    s.inbox.lost("the process exited");
    let e = s
        .call_tool("x", &json!({}), Duration::from_secs(5))
        .unwrap_err();
    assert!(
        matches!(e, McpError::Closed(ref r) if r == "the process exited"),
        "{e}"
    );
}

#[test]
fn a_session_the_server_ended_is_initialized_again_once() {
    let (s, sent, _) = session(|m| match m["method"].as_str() {
        Some("initialize") => reply(m, json!({"protocolVersion": "2025-03-26"})),
        Some("tools/list") => reply(m, json!({"tools": [{"name": "x"}]})),
        _ => None,
    });
    s.initialize(Duration::from_secs(1)).unwrap();
    EXPIRE_NEXT_LIST.with(|e| e.set(true));
    assert_eq!(s.list_tools(Duration::from_secs(1)).unwrap().len(), 1);
    let methods: Vec<Value> = lock(&sent)
        .iter()
        .map(|m| m.get("method").cloned().unwrap_or(json!("reset")))
        .collect();
    assert_eq!(
        methods,
        [
            "initialize",
            "notifications/initialized",
            "reset",
            "initialize",
            "notifications/initialized",
            "tools/list"
        ]
    );
}
