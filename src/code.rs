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
