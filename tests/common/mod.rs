//! Helpers shared by the integration tests: scripted fake servers they start themselves.
pub mod fake_openai;
