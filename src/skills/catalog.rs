//! [`Catalog`]: scanning the roots, shadowing, policy and gating, and reading bodies.
//! Imports nothing of Hearth.

use super::bundled;
use super::frontmatter;
use super::gate::{self, Host};
use super::{
    Availability, Body, DisabledBy, Entry, Limits, LoadOptions, Policy, Roots, Skill, SkillError,
    SkillFs, Source, Warning,
};
use std::collections::BTreeSet;

/// Every skill found, with its availability, shadowing and the files that failed to load.
/// A snapshot: build a new one to see changes on disk.
pub struct Catalog {
    pub(super) entries: Vec<Entry>,
    pub(super) problems: Vec<SkillError>,
    pub(super) roots: Roots,
    pub(super) limits: Limits,
}

impl Catalog {
    /// Scans the roots and the bundled skills, then resolves shadowing, policy and gating
    /// against `host`. Never fails: unreadable roots and bad files become
    /// [`Catalog::problems`]. A missing root directory is simply empty.
    pub fn open(roots: Roots, host: &Host, options: &LoadOptions) -> Catalog {
        let limits = options.limits.clone();
        let mut skills = Vec::new();
        let mut problems = Vec::new();
        for (source, root) in [
            (Source::Workspace, &roots.workspace),
            (Source::Managed, &roots.managed),
        ] {
            if let Some(fs) = root {
                load_root(source, fs.as_ref(), &limits, &mut skills, &mut problems);
            }
        }
        for (folder, text) in bundled::BUNDLED {
            let location = format!("bundled:{folder}/SKILL.md");
            match build_skill(
                text,
                folder,
                Source::Bundled,
                location.clone(),
                format!("bundled:{folder}"),
            ) {
                Ok(skill) => skills.push(skill),
                Err(e) => problems.push(invalid(location, e)),
            }
        }
        skills.sort_by(|a, b| (a.name(), a.source).cmp(&(b.name(), b.source)));
        let mut entries: Vec<Entry> = Vec::with_capacity(skills.len());
        for skill in skills {
            let shadowed_by = entries
                .last()
                .filter(|e| e.skill.name() == skill.name())
                .map(|e| e.shadowed_by.unwrap_or(e.skill.source));
            let availability = availability(&skill, &options.policy, host);
            entries.push(Entry {
                skill,
                availability,
                shadowed_by,
            });
        }
        Catalog {
            entries,
            problems,
            roots,
            limits,
        }
    }

    /// Every loaded skill, sorted by name, then by precedence (the winner of a name first).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The files and roots that failed to load, in scan order.
    pub fn problems(&self) -> &[SkillError] {
        &self.problems
    }

    /// The winning entry for a skill name, or for a [`Skill::location`].
    pub fn resolve(&self, name_or_location: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .filter(|e| e.shadowed_by.is_none())
            .find(|e| e.skill.name() == name_or_location || e.skill.location == name_or_location)
    }

    /// The skills offered to the model, sorted by name: available, not shadowed, and without
    /// `disable-model-invocation`.
    pub fn prompt_skills(&self) -> impl Iterator<Item = &Skill> {
        self.entries
            .iter()
            .filter(|e| e.is_offered() && !e.skill.frontmatter.disable_model_invocation)
            .map(|e| &e.skill)
    }

    /// Reads an offered skill's body (the markdown after the frontmatter) afresh from its
    /// source. `name_or_location` is a skill name or its [`Skill::location`].
    ///
    /// # Errors
    /// [`SkillError::NotFound`] for an unknown name, [`SkillError::NotOffered`] for one that
    /// is unavailable or disabled, or the load errors when the file changed since the
    /// catalog was built (now too large, not UTF-8, frontmatter broken, unreadable).
    pub fn read_body(&self, name_or_location: &str) -> Result<Body, SkillError> {
        let entry = self
            .resolve(name_or_location)
            .ok_or_else(|| SkillError::NotFound(name_or_location.to_string()))?;
        let skill = &entry.skill;
        if entry.availability != Availability::Available {
            return Err(SkillError::NotOffered {
                name: skill.name().to_string(),
                why: entry.availability.to_string(),
            });
        }
        let fs = match skill.source {
            Source::Workspace => self.roots.workspace.as_ref(),
            Source::Managed => self.roots.managed.as_ref(),
            Source::Bundled => None,
        };
        let text: String = match fs {
            None => bundled::BUNDLED
                .iter()
                .find(|(folder, _)| *folder == skill.folder)
                .map(|(_, text)| (*text).to_string())
                .ok_or_else(|| SkillError::NotFound(name_or_location.to_string()))?,
            Some(fs) => read_text(
                fs.as_ref(),
                &format!("{}/SKILL.md", skill.folder),
                &self.limits,
            )?,
        };
        let split = frontmatter::split(&text).map_err(|e| invalid(skill.location.clone(), e))?;
        let mut body = split.body.replace("{baseDir}", &skill.base_dir);
        let truncated = body.len() > self.limits.max_body_bytes;
        if truncated {
            let mut cut = self.limits.max_body_bytes;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            body.truncate(cut);
        }
        Ok(Body {
            text: body,
            truncated,
            first_line: split.body_line,
        })
    }
}

fn invalid(path: String, e: frontmatter::LineMsg) -> SkillError {
    SkillError::Invalid {
        path,
        line: e.line,
        message: e.message,
    }
}

/// Reads one SKILL.md as UTF-8 within the size limit.
fn read_text(fs: &dyn SkillFs, rel: &str, limits: &Limits) -> Result<String, SkillError> {
    let path = fs.display(rel);
    let bytes = fs
        .read(rel, limits.max_file_bytes)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::FileTooLarge => SkillError::TooLarge {
                path: path.clone(),
                limit: limits.max_file_bytes,
            },
            _ => SkillError::Io {
                path: path.clone(),
                source,
            },
        })?;
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        SkillError::NotUtf8 {
            path,
            line: 1 + good.iter().filter(|b| **b == b'\n').count(),
        }
    })
}

fn build_skill(
    text: &str,
    folder: &str,
    source: Source,
    location: String,
    base_dir: String,
) -> Result<Skill, frontmatter::LineMsg> {
    let parsed = frontmatter::parse(text, folder)?;
    let warnings = parsed
        .warnings
        .into_iter()
        .map(|w| Warning {
            line: w.line,
            message: w.message,
        })
        .collect();
    Ok(Skill {
        frontmatter: parsed.frontmatter,
        source,
        folder: folder.to_string(),
        location,
        base_dir,
        warnings,
    })
}

/// Loads the skills of one root into `skills`, problems into `problems`.
fn load_root(
    source: Source,
    fs: &dyn SkillFs,
    limits: &Limits,
    skills: &mut Vec<Skill>,
    problems: &mut Vec<SkillError>,
) {
    let mut folders = match fs.list_dirs("") {
        Ok(folders) => folders,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(source) => {
            return problems.push(SkillError::Io {
                path: fs.display(""),
                source,
            });
        }
    };
    folders.retain(|f| !f.starts_with('.'));
    folders.sort();
    if folders.len() > limits.max_dirs_per_root {
        let what = format!(
            "{} folders, only the first {} were read",
            folders.len(),
            limits.max_dirs_per_root
        );
        problems.push(SkillError::TooMany {
            path: fs.display(""),
            what,
        });
        folders.truncate(limits.max_dirs_per_root);
    }
    let first_of_root = skills.len();
    for folder in folders {
        let rel = format!("{folder}/SKILL.md");
        let text = match read_text(fs, &rel, limits) {
            Ok(text) => text,
            Err(SkillError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                continue;
            }
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        if skills.len() - first_of_root >= limits.max_skills_per_root {
            let what = format!("more than {} skills", limits.max_skills_per_root);
            problems.push(SkillError::TooMany {
                path: fs.display(""),
                what,
            });
            return;
        }
        let location = fs.display(&rel);
        match build_skill(
            &text,
            &folder,
            source,
            location.clone(),
            fs.display(&folder),
        ) {
            Ok(skill) => match skills[first_of_root..]
                .iter()
                .find(|s| s.name() == skill.name())
            {
                Some(first) => problems.push(SkillError::Duplicate {
                    path: location,
                    name: skill.name().to_string(),
                    first: first.location.clone(),
                }),
                None => skills.push(skill),
            },
            Err(e) => problems.push(invalid(location, e)),
        }
    }
}

/// Config rules first, then gating.
fn availability(skill: &Skill, policy: &Policy, host: &Host) -> Availability {
    let named = |set: &BTreeSet<String>| {
        set.contains(skill.name()) || skill.key().is_some_and(|k| set.contains(k))
    };
    if named(&policy.disabled) {
        return Availability::Disabled(DisabledBy::Disabled);
    }
    if skill.source == Source::Bundled
        && policy.allow_bundled.as_ref().is_some_and(|set| !named(set))
    {
        return Availability::Disabled(DisabledBy::NotAllowedBundled);
    }
    if policy.only.as_ref().is_some_and(|set| !named(set)) {
        return Availability::Disabled(DisabledBy::NotInOnly);
    }
    let missing = skill
        .frontmatter
        .openclaw
        .as_ref()
        .map(|m| gate::check(m, host))
        .unwrap_or_default();
    if missing.is_empty() {
        Availability::Available
    } else {
        Availability::Unavailable(missing)
    }
}
