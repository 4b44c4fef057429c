//! Image folder -> features; sentences -> embeddings.
//!   cargo run --example features -- image MODEL.pt PHOTO_DIR [TAPS]
//!   cargo run --example features -- text MODEL.pt < sentences.txt
use libfeat::{ImageExtractor, ImageOptions, TextExtractor, TextOptions};
use std::io::BufRead;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("image") if args.len() >= 3 => {
            let mut paths: Vec<_> = std::fs::read_dir(&args[2])?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("jpg" | "jpeg" | "png")
                    )
                })
                .collect();
            paths.sort();
            let mut opts = ImageOptions::new();
            if let Some(t) = args.get(3) {
                opts = opts.taps(t);
            }
            let ex = ImageExtractor::new(&args[1], &opts)?;
            let f = ex.extract_files(&paths)?;
            for (i, p) in paths.iter().enumerate() {
                match f.item_error(i) {
                    None => println!("{}\t{:?}", p.display(), &f.row(i)[..4.min(f.dim())]),
                    Some(e) => eprintln!("skipped {}: {e}", p.display()),
                }
            }
            println!(
                "{} x {} features ({})",
                f.rows() - f.n_failed(),
                f.dim(),
                ex.taps().join(", ")
            );
        }
        Some("text") if args.len() == 2 => {
            let lines: Vec<String> = std::io::stdin().lock().lines().collect::<Result<_, _>>()?;
            let ex = TextExtractor::new(
                &args[1],
                None,
                &TextOptions::new().taps("encoder.layer.-1:mean"),
            )?;
            let f = ex.extract(&lines)?;
            let norm = |r: &[f32]| r.iter().map(|x| x * x).sum::<f32>().sqrt();
            if f.rows() >= 2 {
                let (a, b) = (f.row(0), f.row(1));
                let cos = a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() / (norm(a) * norm(b));
                println!(
                    "{} x {} embeddings; cosine(0, 1) = {cos:.3}",
                    f.rows(),
                    f.dim()
                );
            }
        }
        _ => eprintln!("usage: features image MODEL DIR [TAPS] | features text MODEL < lines"),
    }
    Ok(())
}
