use std::path::Path;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let mut t = loganomaly::pipeline::normalise::Tokens::new();
    let mut h: u64 = 0xcbf29ce484222325;
    let mut n = 0u64;
    let mut bytes = 0usize;
    let mut lines = Vec::new();
    loganomaly::input::read_path(Path::new(&path), &Default::default(), &mut |l| {
        lines.push(l.line);
        Ok(())
    })
    .unwrap();
    let start = std::time::Instant::now();
    for l in &lines {
        loganomaly::pipeline::normalise::normalise(l, &mut t);
        bytes += t.len();
        n += 1;
    }
    let el = start.elapsed();
    for l in &lines {
        loganomaly::pipeline::normalise::normalise(l, &mut t);
        for b in format!("{}|{:?}\n", t, t.level).bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    let mut keys = std::collections::HashMap::<u64, u64>::new();
    for l in &lines {
        loganomaly::pipeline::normalise::normalise(l, &mut t);
        *keys.entry(loganomaly::model::cache::key(&t)).or_default() += 1;
    }
    let once = keys.values().filter(|&&c| c == 1).count();
    println!("distinct keys {}, seen once {once}", keys.len());
    println!(
        "{n} lines, {bytes} tokens, hash {h:016x}, normalise {:.0} lines/s",
        n as f64 / el.as_secs_f64()
    );
}
