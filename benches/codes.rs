//! Codes: generating a random code (check character and grouping included), parsing and
//! validating a typed code, and comparing two codes; beside them the floor, 16 symbols' worth
//! of bytes from the same OS-seeded CSPRNG.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use giftcert::{
    Code,
    code::{CodeGenerator, RandomCodeGenerator},
};
use rand::Rng;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("codes");
    let generator = RandomCodeGenerator::default();
    group.bench_function("generate (check character)", |b| {
        b.iter(|| generator.generate().unwrap())
    });
    group.bench_function("generate + group for the owner", |b| {
        b.iter(|| {
            let code = generator.generate().unwrap();
            generator.grouped(&code)
        })
    });
    let typed = generator
        .grouped(&generator.generate().unwrap())
        .to_lowercase();
    group.bench_function("parse + check a typed code", |b| {
        b.iter(|| {
            let code = Code::parse(black_box(&typed)).unwrap();
            generator.check(&code).unwrap();
            code
        })
    });
    let a = Code::parse(&typed).unwrap();
    let same = Code::parse(&typed.to_uppercase()).unwrap();
    group.bench_function("compare two codes (constant time)", |b| {
        b.iter(|| black_box(&a) == black_box(&same))
    });
    group.bench_function("floor: 10 bytes from the CSPRNG", |b| {
        b.iter(|| {
            let mut bytes = [0_u8; 10];
            rand::rng().fill_bytes(&mut bytes);
            bytes
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
