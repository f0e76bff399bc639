//! Where codes and card ids come from: the operating system's generator, read for each draw,
//! never a generator whose state lives in the process (`rand::rng()`, `rand::random`), which a
//! fork or a VM snapshot would copy.

use std::fs;
use std::path::Path;

use giftcert::CardId;
use giftcert::code::{CodeGenerator, RandomCodeGenerator};

/// The files that draw codes and card ids from the operating system.
const DRAWERS: [&str; 2] = ["src/code/random.rs", "src/card/id.rs"];

/// The file that draws a card's id and code for a driver ([`giftcert::redeem::Protocol::draw`]).
const DRAW: &str = "src/redeem/protocol/settings.rs";

/// Calls that draw from a generator kept in the process.
const IN_PROCESS: [&str; 3] = ["rand::rng()", "rand::random(", "thread_rng"];

#[test]
fn codes_and_card_ids_are_drawn_from_the_operating_system() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in DRAWERS.into_iter().chain([DRAW]) {
        let text = fs::read_to_string(root.join(file)).expect("the source is readable");
        assert!(
            file == DRAW || text.contains("rngs::SysRng"),
            "{file} does not draw from rand::rngs::SysRng"
        );
        for call in IN_PROCESS {
            assert!(
                !text.contains(call),
                "{file} draws from a generator kept in the process ({call})"
            );
        }
    }
}

#[test]
fn drawn_codes_and_ids_differ() {
    let generator = RandomCodeGenerator::default();
    let a = generator.generate().unwrap();
    let b = generator.generate().unwrap();
    assert_ne!(a.expose_secret(), b.expose_secret());
    generator.check(&a).unwrap();
    assert_ne!(CardId::random(), CardId::try_random().unwrap());
}
