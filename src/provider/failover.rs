//! The fallback chain: an ordered list of model refs (`provider/model`), each provider with
//! one or more auth profiles. A call tries the session's sticky profile first, skips
//! profiles on cooldown, and on a failure that [`ProviderError::cools_down`] puts the profile
//! on an exponential cooldown (1 min → 5 → 25 → 60 cap) before moving to the next profile,
//! then the next model. Cooldowns live behind [`CooldownStore`] (LMDB in the daemon) so they
//! survive restarts. Vocabulary and policy follow OpenClaw's model failover
//! (<https://docs.openclaw.ai/concepts/model-failover>).

use super::{AuthProfile, ChatRequest, ChatResponse, DeltaSink, Provider, ProviderError};
use crate::core::{ChatMessage, ToolSpec, now_ms};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Cooldown lengths after 1, 2, 3 and 4+ consecutive failures, seconds.
pub const COOLDOWN_STEPS_SECS: [u64; 4] = [60, 300, 1500, 3600];

/// Cooldown for the `failures`-th consecutive failure (1-based), ms.
pub fn cooldown_ms(failures: u32) -> u64 {
    let i = (failures.max(1) as usize - 1).min(COOLDOWN_STEPS_SECS.len() - 1);
    COOLDOWN_STEPS_SECS[i] * 1000
}

/// Health of one auth profile as the failover layer sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileHealth {
    /// Consecutive failures; 0 when healthy.
    pub failures: u32,
    /// Not tried before this time, ms since the epoch.
    pub cooldown_until_ms: u64,
    /// Kind and message of the last failure.
    pub last_error: Option<String>,
}

/// Persistent cooldown state, keyed by auth-profile id (`openai:default`).
pub trait CooldownStore: Send + Sync {
    /// Current health (healthy when unknown).
    fn health(&self, profile_id: &str) -> ProfileHealth;
    /// Stores new health. Errors are logged by the implementation, never fatal to a run.
    fn set_health(&self, profile_id: &str, health: &ProfileHealth);
}

/// A model ref `provider/model`; the model part may itself hold slashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    /// Provider name (`local`, `openai`, …).
    pub provider: String,
    /// The provider's model name.
    pub model: String,
}

impl ModelRef {
    /// Parses `provider/model`.
    ///
    /// # Errors
    /// A message when there is no `/` or either side is empty.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.split_once('/') {
            Some((p, m)) if !p.is_empty() && !m.is_empty() => Ok(Self {
                provider: p.into(),
                model: m.into(),
            }),
            _ => Err(format!("{s:?} is not of the form `provider/model`")),
        }
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}

/// A provider with its credentials.
#[derive(Clone)]
pub struct Route {
    /// The backend.
    pub provider: Arc<dyn Provider>,
    /// Auth profiles in configured order (at least one; keyless servers get one without key).
    pub profiles: Vec<AuthProfile>,
    /// Context window of this provider's models, tokens.
    pub context_window: usize,
    /// Whether tools are offered through this provider (the local provider compacts them
    /// when they would fill a small window).
    pub tools: bool,
}

/// Per-call parameters shared by every candidate.
#[derive(Debug, Clone)]
pub struct CallParams {
    /// Tools offered.
    pub tools: Vec<ToolSpec>,
    /// Generated-token cap.
    pub max_tokens: u32,
    /// 0 = greedy.
    pub temperature: f32,
    /// Sampling seed.
    pub seed: u64,
    /// Deadline per candidate attempt.
    pub timeout: Duration,
}

/// One failover step, reported to the run's events.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailoverNote {
    /// Model ref that failed.
    pub model: String,
    /// Auth profile that failed.
    pub profile: String,
    /// [`ProviderError::kind`].
    pub reason: String,
    /// The error message.
    pub message: String,
    /// Cooldown set on the profile, ms since the epoch (None: no cooldown).
    pub cooldown_until_ms: Option<u64>,
}

/// A successful answer and who gave it.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The model's response.
    pub response: ChatResponse,
    /// Model ref that answered.
    pub model: String,
    /// Auth profile that answered.
    pub profile: String,
}

/// The configured fallback chain.
#[derive(Clone)]
pub struct Chain {
    /// Shared: a clone (an agent's, the gateway's status) costs three reference counts.
    routes: Arc<BTreeMap<String, Route>>,
    models: Arc<[ModelRef]>,
    cooldowns: Arc<dyn CooldownStore>,
}

impl Chain {
    /// Builds a chain.
    ///
    /// # Errors
    /// A message when a model ref names a provider without a route, or the chain is empty.
    pub fn new(
        routes: BTreeMap<String, Route>,
        models: Vec<ModelRef>,
        cooldowns: Arc<dyn CooldownStore>,
    ) -> Result<Self, String> {
        if models.is_empty() {
            return Err("the model chain is empty".into());
        }
        for m in &models {
            if !routes.contains_key(&m.provider) {
                return Err(format!(
                    "model {m} names provider {:?}, which is not configured",
                    m.provider
                ));
            }
        }
        Ok(Self {
            routes: Arc::new(routes),
            models: models.into(),
            cooldowns,
        })
    }

    /// The model refs in order.
    pub fn models(&self) -> &[ModelRef] {
        &self.models
    }

    /// The route of provider `name`.
    pub fn route(&self, name: &str) -> Option<&Route> {
        self.routes.get(name)
    }

    /// Every auth profile id with its health, for `status`.
    pub fn profile_health(&self) -> Vec<(String, ProfileHealth)> {
        self.routes
            .values()
            .flat_map(|r| r.profiles.iter())
            .map(|p| (p.id.clone(), self.cooldowns.health(&p.id)))
            .collect()
    }

    /// The smallest context window of the chain, tokens.
    pub fn min_context_window(&self) -> usize {
        self.models
            .iter()
            .filter_map(|m| self.routes.get(&m.provider))
            .map(|r| r.context_window)
            .min()
            .unwrap_or(2048)
    }

    /// Calls the chain until one candidate answers. `messages_for(window, tools)` builds the
    /// conversation for a candidate whose context window is `window` tokens and which is
    /// (`tools = true`) or is not offered the tools. Text deltas of
    /// every attempt go to `sink` (a failed attempt's partial text is followed by a
    /// failover note, so consumers can discard it).
    ///
    /// # Errors
    /// [`ProviderError::Cancelled`] when `cancel` fires; [`ProviderError::Exhausted`]
    /// listing every candidate's failure or cooldown when none answered.
    pub fn call(
        &self,
        params: &CallParams,
        sticky: Option<&str>,
        messages_for: &dyn Fn(usize, bool) -> Vec<ChatMessage>,
        sink: &mut DeltaSink<'_>,
        cancel: &CancellationToken,
        on_failover: &mut dyn FnMut(&FailoverNote),
    ) -> Result<Answer, ProviderError> {
        let mut failures = Vec::new();
        for m in self.models.iter() {
            let Some(route) = self.routes.get(&m.provider) else {
                continue;
            };
            let messages = messages_for(route.context_window, route.tools);
            let tools: &[ToolSpec] = if route.tools { &params.tools } else { &[] };
            for profile in ordered_profiles(&route.profiles, sticky) {
                if cancel.is_cancelled() {
                    return Err(ProviderError::Cancelled);
                }
                let health = self.cooldowns.health(&profile.id);
                let now = now_ms();
                if health.cooldown_until_ms > now {
                    let secs = (health.cooldown_until_ms - now).div_ceil(1000);
                    failures.push(format!(
                        "{m} via {}: cooling down for {secs}s more",
                        profile.id
                    ));
                    continue;
                }
                let req = ChatRequest {
                    model: &m.model,
                    messages: &messages,
                    tools,
                    max_tokens: params.max_tokens,
                    temperature: params.temperature,
                    seed: params.seed,
                    timeout: params.timeout,
                };
                match route.provider.chat(&req, profile, sink, cancel) {
                    Ok(response) => {
                        if health.failures > 0 || health.cooldown_until_ms > 0 {
                            self.cooldowns
                                .set_health(&profile.id, &ProfileHealth::default());
                        }
                        return Ok(Answer {
                            response,
                            model: m.to_string(),
                            profile: profile.id.clone(),
                        });
                    }
                    Err(ProviderError::Cancelled) => return Err(ProviderError::Cancelled),
                    Err(e) => {
                        let cooldown_until_ms = e.cools_down().then(|| {
                            let failures = health.failures.saturating_add(1);
                            let mut wait = cooldown_ms(failures);
                            if let ProviderError::RateLimited {
                                retry_after: Some(ra),
                                ..
                            } = &e
                            {
                                wait = wait.max(ra.as_millis() as u64);
                            }
                            let until = now_ms() + wait;
                            let h = ProfileHealth {
                                failures,
                                cooldown_until_ms: until,
                                last_error: Some(format!("{}: {e}", e.kind())),
                            };
                            self.cooldowns.set_health(&profile.id, &h);
                            until
                        });
                        tracing::warn!(model = %m, profile = %profile.id, reason = e.kind(), "model call failed: {e}");
                        let note = FailoverNote {
                            model: m.to_string(),
                            profile: profile.id.clone(),
                            reason: e.kind().into(),
                            message: e.to_string(),
                            cooldown_until_ms,
                        };
                        on_failover(&note);
                        failures.push(format!("{m} via {}: {e}", profile.id));
                    }
                }
            }
        }
        Err(ProviderError::Exhausted(failures.join("; ")))
    }
}

/// Profiles in configured order with the sticky one first.
fn ordered_profiles<'a>(profiles: &'a [AuthProfile], sticky: Option<&str>) -> Vec<&'a AuthProfile> {
    let mut v: Vec<&AuthProfile> = profiles.iter().collect();
    if let Some(s) = sticky
        && let Some(i) = v.iter().position(|p| p.id == s)
    {
        let p = v.remove(i);
        v.insert(0, p);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Role;
    use crate::provider::FinishReason;
    use std::sync::Mutex;

    #[derive(Default)]
    struct MemCooldowns(Mutex<BTreeMap<String, ProfileHealth>>);
    impl CooldownStore for MemCooldowns {
        fn health(&self, id: &str) -> ProfileHealth {
            self.0
                .lock()
                .expect("lock")
                .get(id)
                .cloned()
                .unwrap_or_default()
        }
        fn set_health(&self, id: &str, h: &ProfileHealth) {
            self.0.lock().expect("lock").insert(id.into(), h.clone());
        }
    }

    /// Answers by profile: `fail:<kind>` profiles fail, others answer with their id.
    struct ByProfile;
    impl Provider for ByProfile {
        fn name(&self) -> &str {
            "p"
        }
        fn chat(
            &self,
            _: &ChatRequest<'_>,
            auth: &AuthProfile,
            sink: &mut DeltaSink<'_>,
            _: &CancellationToken,
        ) -> Result<ChatResponse, ProviderError> {
            if auth.id.contains("429") {
                return Err(ProviderError::RateLimited {
                    provider: "p".into(),
                    retry_after: None,
                });
            }
            if auth.id.contains("400") {
                return Err(ProviderError::BadRequest {
                    provider: "p".into(),
                    status: 400,
                    detail: String::new(),
                });
            }
            sink(&auth.id);
            Ok(ChatResponse {
                message: ChatMessage::text(Role::Assistant, auth.id.clone()),
                finish_reason: FinishReason::Stop,
                usage: Default::default(),
            })
        }
    }

    fn chain(profiles: &[&str], cd: Arc<MemCooldowns>) -> Chain {
        let route = Route {
            provider: Arc::new(ByProfile),
            profiles: profiles
                .iter()
                .map(|p| AuthProfile {
                    id: p.to_string(),
                    api_key: None,
                })
                .collect(),
            context_window: 1000,
            tools: true,
        };
        Chain::new(
            BTreeMap::from([("p".to_string(), route)]),
            vec![ModelRef::parse("p/m").expect("ref")],
            cd,
        )
        .expect("chain")
    }

    fn params() -> CallParams {
        CallParams {
            tools: vec![],
            max_tokens: 8,
            temperature: 0.0,
            seed: 1,
            timeout: Duration::from_secs(1),
        }
    }

    fn call(c: &Chain, sticky: Option<&str>) -> (Result<Answer, ProviderError>, Vec<FailoverNote>) {
        let mut notes = Vec::new();
        let r = c.call(
            &params(),
            sticky,
            &|_, _| vec![],
            &mut |_| {},
            &CancellationToken::new(),
            &mut |n| notes.push(n.clone()),
        );
        (r, notes)
    }

    #[test]
    fn rate_limit_cools_down_and_fails_over() {
        let cd = Arc::new(MemCooldowns::default());
        let c = chain(&["p:429", "p:good"], cd.clone());
        let (r, notes) = call(&c, None);
        assert_eq!(r.expect("answer").profile, "p:good");
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].reason, "rate_limit");
        let h = cd.health("p:429");
        assert_eq!(h.failures, 1);
        let wait = h.cooldown_until_ms - now_ms();
        assert!(wait > 55_000 && wait <= 60_000, "{wait}");
        // Second call skips the cooling profile without calling it.
        let (r, notes) = call(&c, None);
        assert_eq!(r.expect("answer").profile, "p:good");
        assert!(notes.is_empty());
    }

    #[test]
    fn cooldown_grows_and_caps() {
        assert_eq!(
            [1, 2, 3, 4, 9].map(cooldown_ms),
            [60_000, 300_000, 1_500_000, 3_600_000, 3_600_000]
        );
    }

    #[test]
    fn bad_request_moves_on_without_cooldown() {
        let cd = Arc::new(MemCooldowns::default());
        let c = chain(&["p:400", "p:good"], cd.clone());
        let (r, notes) = call(&c, None);
        assert_eq!(r.expect("answer").profile, "p:good");
        assert_eq!(notes[0].cooldown_until_ms, None);
        assert_eq!(cd.health("p:400"), ProfileHealth::default());
    }

    #[test]
    fn sticky_profile_goes_first() {
        let c = chain(&["p:a", "p:b"], Arc::new(MemCooldowns::default()));
        assert_eq!(call(&c, Some("p:b")).0.expect("answer").profile, "p:b");
        assert_eq!(call(&c, Some("p:zzz")).0.expect("answer").profile, "p:a");
    }

    #[test]
    fn all_failing_is_exhausted_with_reasons() {
        let c = chain(&["p:429"], Arc::new(MemCooldowns::default()));
        let e = call(&c, None).0.expect_err("must fail");
        assert!(e.to_string().contains("rate limited"), "{e}");
        let e = call(&c, None).0.expect_err("must fail");
        assert!(e.to_string().contains("cooling down"), "{e}");
    }
}
