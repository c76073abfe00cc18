//! What an import or onboarding did, item by item: carried over as it was, carried over
//! with a change, or left behind, each with the source key, the Hearth key and why.

use serde::Serialize;

/// How one item fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Carried over as it was.
    Imported,
    /// Carried over with a change (a secret moved to a file, a value mapped).
    Changed,
    /// Not carried over.
    Skipped,
    /// A file written.
    Wrote,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// How it fared.
    pub outcome: Outcome,
    /// Where it came from (`channels.telegram.botToken`, `state/openclaw.sqlite cron_jobs`).
    pub from: String,
    /// Where it went (`channels.telegram.token`), empty when skipped.
    pub to: String,
    /// Why, or what changed.
    pub why: String,
}

impl Item {
    /// Carried over as it was.
    pub fn imported(from: &str, to: &str) -> Item {
        Item::new(Outcome::Imported, from, to, "")
    }
    /// Carried over with a change, saying which.
    pub fn changed(from: &str, to: &str, why: &str) -> Item {
        Item::new(Outcome::Changed, from, to, why)
    }
    /// Not carried over, saying why.
    pub fn skipped(from: &str, why: &str) -> Item {
        Item::new(Outcome::Skipped, from, "", why)
    }
    /// A file written.
    pub fn wrote(path: &str, why: &str) -> Item {
        Item::new(Outcome::Wrote, "", path, why)
    }
    fn new(outcome: Outcome, from: &str, to: &str, why: &str) -> Item {
        Item {
            outcome,
            from: from.into(),
            to: to.into(),
            why: why.into(),
        }
    }
}

/// The whole report, in the order things were found.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// The items.
    pub items: Vec<Item>,
}

impl Report {
    /// Adds an item.
    pub fn push(&mut self, item: Item) {
        self.items.push(item);
    }

    /// How many items have `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.items.iter().filter(|i| i.outcome == outcome).count()
    }

    /// The report as text: one line per item, `imported`/`changed`/`skipped`/`wrote`,
    /// `from → to`, and the reason on the same line; a count at the end.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for i in &self.items {
            let word = match i.outcome {
                Outcome::Imported => "imported",
                Outcome::Changed => "changed ",
                Outcome::Skipped => "skipped ",
                Outcome::Wrote => "wrote   ",
            };
            let mut line = format!("{word}  {}", i.from);
            if !i.to.is_empty() {
                if !i.from.is_empty() {
                    line.push_str(" → ");
                }
                line.push_str(&i.to);
            }
            if !i.why.is_empty() {
                line.push_str(&format!("  ({})", i.why));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out.push_str(&format!(
            "{} imported, {} changed, {} skipped\n",
            self.count(Outcome::Imported),
            self.count(Outcome::Changed),
            self.count(Outcome::Skipped)
        ));
        out
    }
}
