//! Numbers and comparisons in the words a sentence or an axis needs.

/// An axis label: `2k`, `50k`, `1.5M` for large values, up to three significant digits for
/// small ones (`0.25`, `12`), without a trailing `.0`.
pub fn compact_number(v: f64) -> String {
    let trim = |s: String| if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(format!("{:.1}", v / 1e6)))
    } else if a >= 1e4 || (a >= 1e3 && (v / 1e3).fract() == 0.0) {
        format!("{}k", trim(format!("{:.1}", v / 1e3)))
    } else if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else {
        let digits = (2 - a.log10().floor() as i32).max(0) as usize;
        trim(format!("{v:.digits$}"))
    }
}

/// How the time `this` compares with the time `other` (smaller is better), in words that hold
/// whichever way the run went: `3.2× faster`, `1.4× slower`, or `about as fast (within 10%)`.
/// The lessons' sentences print this instead of a fixed "faster" beside a ratio.
pub fn faster_or_slower(this: f64, other: f64) -> String {
    compare(other / this, "faster", "slower", "about as fast")
}

/// How the amount `this` compares with `other` (a rate, a count; larger is more): `3.2× higher`,
/// `1.4× lower`, or `about the same (within 10%)`.
pub fn higher_or_lower(this: f64, other: f64) -> String {
    compare(this / other, "higher", "lower", "about the same")
}

/// `this` against `other` in the words given: `ratio_words(30.0, 1.0, "longer", "shorter",
/// "about as long")` is `30× longer`; within 10% either way it is `about as long (within 10%)`.
pub fn ratio_words(this: f64, other: f64, more: &str, less: &str, same: &str) -> String {
    compare(this / other, more, less, same)
}

fn compare(ratio: f64, better: &str, worse: &str, same: &str) -> String {
    if !ratio.is_finite() || ratio <= 0.0 {
        return "not comparable in this run".to_string();
    }
    let digits = |r: f64| if r >= 10.0 { format!("{r:.0}") } else { format!("{r:.1}") };
    if (1.0 / 1.1..=1.1).contains(&ratio) {
        format!("{same} (within 10%)")
    } else if ratio > 1.0 {
        format!("{}× {better}", digits(ratio))
    } else {
        format!("{}× {worse}", digits(1.0 / ratio))
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

