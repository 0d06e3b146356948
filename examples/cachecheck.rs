use std::path::Path;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let mut lines = Vec::new();
    loganomaly::input::read_path(Path::new(&path), &Default::default(), &mut |l| {
        lines.push(l.line);
        Ok(())
    })
    .unwrap();
    let model = loganomaly::model::bundled().unwrap();
    let mut out = Vec::new();
    for pass in 0..3 {
        let t = std::time::Instant::now();
        for b in lines.chunks(8192) {
            model.score_batch(b, &mut out).unwrap();
        }
        println!(
            "pass {pass}: {:.0} lines/s",
            lines.len() as f64 / t.elapsed().as_secs_f64()
        );
    }
}
