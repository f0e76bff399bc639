//! Placeholder replaced by the real code module on merge.
#![allow(missing_docs, unreachable_pub)]
use serde::{Deserialize, Serialize};
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Code(String);
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad code")]
pub struct CodeError;
impl Code {
    pub fn parse(input: &str) -> Result<Code, CodeError> {
        let s: String = input
            .chars()
            .filter(|c| *c != ' ' && *c != '-')
            .collect::<String>()
            .to_ascii_uppercase();
        if s.len() < 4 {
            return Err(CodeError);
        }
        Ok(Code(s))
    }
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}
impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "****{}", &self.0[self.0.len() - 1..])
    }
}
impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "****{}", &self.0[self.0.len() - 1..])
    }
}
pub trait CodeGenerator: Send + Sync + std::fmt::Debug {
    fn generate(&self) -> Result<Code, CodeError>;
    fn check(&self, code: &Code) -> Result<(), CodeError>;
}
impl Code {
    pub fn last4(&self) -> &str {
        &self.0[self.0.len().saturating_sub(1)..]
    }
    pub fn masked(&self) -> String {
        format!("{self}")
    }
}
#[derive(Debug, Default)]
pub struct RandomCodeGenerator(std::sync::atomic::AtomicU64);
impl CodeGenerator for RandomCodeGenerator {
    fn generate(&self) -> Result<Code, CodeError> {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) ^ rand::random::<u64>();
        Code::parse(&format!("{n:016X}"))
    }
    fn check(&self, _code: &Code) -> Result<(), CodeError> {
        Ok(())
    }
}
