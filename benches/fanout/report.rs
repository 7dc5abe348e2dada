//! What the benchmark prints: one line per figure on stdout (`name  value unit  note`), progress
//! on stderr, and the correctness problems seen along the way, listed at the end (the run goes
//! on after one, so every figure still prints; the exit status then says it failed).

/// Width of the name column.
const NAME_WIDTH: usize = 44;

/// The figures printed so far and the problems seen.
#[derive(Default)]
pub struct Report {
    problems: Vec<String>,
}

impl Report {
    /// Print one figure: `name value unit note`.
    pub fn figure(&self, name: &str, value: f64, unit: &str, note: &str) {
        println!("{name:<NAME_WIDTH$} {value:>10.3} {unit:<3} {note}");
    }

    /// A figure that could not be measured (the reason in the note).
    pub fn missing(&self, name: &str, unit: &str, why: &str) {
        println!("{name:<NAME_WIDTH$} {:>10} {unit:<3} {why}", "n/a");
    }

    /// Print the median of `rounds` (e.g. seconds), with every round in the note; the median,
    /// or `None` (printed as n/a) when there is no round.
    pub fn median_of(&self, name: &str, rounds: &[f64], unit: &str, note: &str) -> Option<f64> {
        let Some(m) = median(rounds) else {
            self.missing(name, unit, "no successful round");
            return None;
        };
        let shown: Vec<String> = rounds.iter().map(|v| format!("{v:.3}")).collect();
        let sep = if note.is_empty() { "" } else { "; " };
        self.figure(
            name,
            m,
            unit,
            &format!("median of {}: {}{sep}{note}", rounds.len(), shown.join(" ")),
        );
        Some(m)
    }

    /// Print `a / b` as a ratio, both sides in the note (`a_label a unit / b_label b unit`) and
    /// the goal; n/a when a side is missing or zero.
    pub fn ratio(
        &self,
        name: &str,
        a: (&str, Option<f64>),
        b: (&str, Option<f64>),
        unit: &str,
        goal: &str,
    ) {
        match (a.1, b.1) {
            (Some(x), Some(y)) if y > 0.0 => self.figure(
                name,
                x / y,
                "x",
                &format!("{} {x:.3} {unit} / {} {y:.3} {unit}; goal {goal}", a.0, b.0),
            ),
            _ => self.missing(name, "x", &format!("a side is missing; goal {goal}")),
        }
    }

    /// Record (and show at once, on stderr) a correctness problem.
    pub fn problem(&mut self, text: String) {
        eprintln!("# PROBLEM: {text}");
        self.problems.push(text);
    }

    /// Print the problems; the process exit status (0 when there was none).
    pub fn finish(self) -> i32 {
        if self.problems.is_empty() {
            println!("correctness: every check passed");
            return 0;
        }
        println!("correctness: {} problem(s):", self.problems.len());
        for p in &self.problems {
            println!("  - {p}");
        }
        1
    }
}

/// Progress message on stderr (stdout carries only the figures).
pub fn progress(text: &str) {
    eprintln!("# {text}");
}

/// The median of `values` (the upper one of an even count); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied()
}

/// The largest of `values`; `None` when empty.
pub fn max(values: &[f64]) -> Option<f64> {
    values.iter().copied().reduce(f64::max)
}
