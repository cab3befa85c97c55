//! The medians of every engine side by side, as markdown tables with the ratios the targets
//! are stated in.

use crate::*;

pub fn print(engines: &[Engine], rounds: usize) {
    println!(
        "\nbusybox base + {PARTS} RUN steps of {PART_MB} MB random data + a COPY, built and pushed fresh, {rounds} rounds, medians:"
    );
    println!(
        "| engine | CLI peer | peer | ship-to-ecr, BuildKit | ratio to the peer (target <= 0.8) | classic CLI pair | ship-to-ecr, classic |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for e in engines {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            e.label,
            e.peer,
            secs(e.median(PEER)),
            secs(e.median(OURS_BUILDKIT)),
            ratio(e.median(OURS_BUILDKIT), e.median(PEER)),
            secs(e.median(CLI_CLASSIC)),
            secs(e.median(OURS_CLASSIC)),
        );
    }
    println!("\nthe same commit on a fresh daemon (images removed, build cache pruned), rebuild: true, medians:");
    println!(
        "| engine | ship-to-ecr, cache: auto | ship-to-ecr, cache: off | ratio (target <= 0.4) | CLI peer, --cache-from the image it pushed | ship-to-ecr's cache, last round |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for e in engines {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            e.label,
            secs(e.median(OURS_CACHE)),
            secs(e.median(OURS_NO_CACHE)),
            ratio(e.median(OURS_CACHE), e.median(OURS_NO_CACHE)),
            secs(e.median(PEER_CACHE_FROM)),
            e.cache.get(OURS_CACHE).map_or("", String::as_str),
        );
    }
    println!("\nthe same commit on a fresh daemon, reused (nothing built), medians:");
    println!(
        "| engine | case | ship-to-ecr | CLI peer, rebuilding | ratio (target < 1 s and <= 0.1) |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for e in engines {
        for what in [OURS_REUSE, OURS_REUSE_LOAD] {
            println!(
                "| {} | {what} | {} | {} | {} |",
                e.label,
                secs(e.median(what)),
                secs(e.median(PEER)),
                ratio(e.median(what), e.median(PEER)),
            );
        }
    }
    print_two_stage(engines);
}

fn print_two_stage(engines: &[Engine]) {
    println!(
        "\ntwo-stage Dockerfile (a builder stage's RUN writes a 50 MB artifact, COPY --from it into a small stage), a fresh runner with a changed source file, medians:"
    );
    println!(
        "| engine | ship-to-ecr, cache: auto | ship-to-ecr, cache: off | ratio to cache: off (target <= 0.5) | CLI peer with its cache | ratio to the peer (target <= 1) |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for e in engines {
        let ours = e.median(TWO_OURS_CACHE);
        println!(
            "| {} | {} | {} | {} | {} {} | {} |",
            e.label,
            secs(ours),
            secs(e.median(TWO_OURS_NO_CACHE)),
            ratio(ours, e.median(TWO_OURS_NO_CACHE)),
            e.peer,
            secs(e.median(TWO_PEER)),
            ratio(ours, e.median(TWO_PEER)),
        );
    }
    println!("\nwhat the cache did in the two-stage case, last round:");
    println!("| engine | ship-to-ecr, cache: auto | ship-to-ecr, cache: off | CLI peer |");
    println!("| --- | --- | --- | --- |");
    for e in engines {
        let cache = |what| e.cache.get(what).map_or("", String::as_str);
        println!(
            "| {} | {} | {} | {} |",
            e.label,
            cache(TWO_OURS_CACHE),
            cache(TWO_OURS_NO_CACHE),
            cache(TWO_PEER),
        );
    }
}

fn secs(median: Option<f64>) -> String {
    median.map_or("-".into(), |s| format!("{s:.2} s"))
}

fn ratio(ours: Option<f64>, theirs: Option<f64>) -> String {
    match (ours, theirs) {
        (Some(ours), Some(theirs)) => format!("{:.2}", ours / theirs),
        _ => "-".into(),
    }
}
