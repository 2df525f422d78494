//! The reference's mapping validation, check for check.
//!
//! mapping-kit validates a mapping before resolving it and reports every problem
//! it finds. What it looks at is narrower than it seems, and the interpreter must
//! accept exactly the same mappings: raw arrays are not looked into (directives in
//! them are checked only when they run), nor is a raw object under `@literal`,
//! `@excludeWhenNull` or a value that may be "a directive or a raw value". Option
//! objects (`@if`, `@replace`, …) are validated whole, unknown option keys included.

use serde_json::{Map, Value};

use super::directive::nearest_directive;
use super::spec::{Check, DirectiveSpec, METADATA_KEY, OptionSpec, Takes, directive};
use super::value::{Type, js_len};
use super::{MappingError, MappingErrorKind, Ptr};

type Obj = Map<String, Value>;

/// Validation result: `Err(())` when the reference would throw (the problems are in `errs`).
type Checked = Result<(), ()>;

pub(crate) struct Validator<'e> {
    pub(crate) errs: &'e mut Vec<MappingError>,
}

/// `realTypeOrDirective`: an object with any `@` key is a directive.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Object(map) if map.keys().any(|k| k.starts_with('@')) => "directive",
        other => Type::of(other).name(),
    }
}

fn article(kind: &str) -> &'static str {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

impl Validator<'_> {
    fn err(&mut self, ptr: &Ptr, kind: MappingErrorKind, message: String, help: Option<String>) -> Checked {
        self.errs.push(MappingError {
            pointer: ptr.to_string(),
            kind,
            message,
            help,
            offset: None,
        });
        Err(())
    }

    fn wrong_type(&mut self, ptr: &Ptr, v: &Value, want: &str) -> Checked {
        let found = kind(v);
        self.err(
            ptr,
            MappingErrorKind::WrongType,
            format!("should be {want}, but it is {} {found}", article(found)),
            None,
        )
    }

    /// `validate`: directives and objects are checked, arrays only for being arrays.
    pub(crate) fn validate(&mut self, v: &Value, ptr: &mut Ptr) -> Checked {
        match v {
            Value::Object(map) if kind(v) == "directive" => self.directive(map, ptr),
            Value::Object(map) => self.object(map, ptr),
            _ => Ok(()),
        }
    }

    /// `validateObject`: every member, all problems collected.
    fn object(&mut self, map: &Obj, ptr: &mut Ptr) -> Checked {
        let mut ok = Ok(());
        for (k, v) in map {
            ptr.push(k);
            if self.validate(v, ptr).is_err() {
                ok = Err(());
            }
            ptr.pop();
        }
        ok
    }

    /// `validateDirective`.
    pub(crate) fn directive(&mut self, map: &Obj, ptr: &mut Ptr) -> Checked {
        let names: Vec<&String> = map.keys().filter(|k| k.starts_with('@')).collect();
        if names.len() > 1 {
            return self.err(
                ptr,
                MappingErrorKind::TwoDirectives,
                format!(
                    "has {} directives ({}); a directive object holds exactly one",
                    names.len(),
                    names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
                ),
                Some("split them into separate fields, or nest one inside the other's options".to_owned()),
            );
        }
        let others: Vec<&String> = map
            .keys()
            .filter(|k| !k.starts_with('@') && *k != METADATA_KEY)
            .collect();
        let Some(name) = names.first() else {
            return Ok(());
        };
        if !others.is_empty() {
            return self.err(
                ptr,
                MappingErrorKind::MixedDirective,
                format!(
                    "mixes the directive \"{name}\" with other keys ({}); a directive object holds only its directive",
                    others.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
                ),
                Some(format!(
                    "move the other keys out, or wrap the object in {{\"@literal\": …}} if \"{name}\" is data"
                )),
            );
        }
        let value = &map[name.as_str()];
        let Some(spec) = directive(name) else {
            return self.err(
                ptr,
                MappingErrorKind::UnknownDirective,
                format!("unknown directive \"{name}\""),
                nearest_directive(name).map(|n| format!("did you mean \"{n}\"?")),
            );
        };
        ptr.push(name);
        let result = self.options(spec, value, ptr);
        ptr.pop();
        result
    }

    /// The directive's own validator, as the [`spec`](super::spec) table says; `ptr` ends
    /// with the directive name.
    fn options(&mut self, spec: &DirectiveSpec, v: &Value, ptr: &mut Ptr) -> Checked {
        match spec.takes {
            Takes::Value(check) => self.check(check, Some(v), ptr),
            Takes::Options(options) => {
                self.fields(v, ptr, options)?;
                // Array options (`@merge`'s `objects`): the reference stops at the first bad item.
                for option in options {
                    let (Check::ArrOf(item), Some(Value::Array(items))) = (option.check, v.get(option.name)) else {
                        continue;
                    };
                    for (i, value) in items.iter().enumerate() {
                        ptr.push(option.name);
                        ptr.push(&i.to_string());
                        let r = self.check(*item, Some(value), ptr);
                        ptr.pop();
                        ptr.pop();
                        r?;
                    }
                }
                Ok(())
            }
            Takes::PathAndShape => {
                let Value::Array(items) = v else {
                    return self.wrong_type(ptr, v, "an array of a path and a shape");
                };
                ptr.push("0");
                let first = self.check(Check::DirOrStr, items.first(), ptr);
                ptr.pop();
                first?;
                match items.get(1) {
                    Some(shape) => {
                        ptr.push("1");
                        let r = self.validate(shape, ptr);
                        ptr.pop();
                        r
                    }
                    None => Ok(()),
                }
            }
        }
    }

    /// `validateObjectWithFields`: the options must be an object, valid as a whole
    /// (which stops here when not), then each listed field is checked.
    fn fields(&mut self, v: &Value, ptr: &mut Ptr, options: &[OptionSpec]) -> Checked {
        let Value::Object(map) = v else {
            return self.wrong_type(ptr, v, "an object");
        };
        if kind(v) == "directive" {
            return self.wrong_type(ptr, v, "an object of options");
        }
        self.object(map, ptr)?;
        let mut ok = Ok(());
        for option in options {
            let name = option.name;
            let r = match map.get(name) {
                None if option.required => self.err(
                    ptr,
                    MappingErrorKind::MissingOption,
                    format!("is missing the option \"{name}\""),
                    Some(format!("add \"{name}\"")),
                ),
                None => Ok(()),
                Some(value) => {
                    ptr.push(name);
                    // The whole object was just validated without a problem, so
                    // directives in it are valid: only the field's type is left to
                    // check. (mapping-kit validates them again, which is exponential
                    // in how deep directives nest.)
                    let r = self.check_shallow(option.check, value, ptr);
                    ptr.pop();
                    r
                }
            };
            if r.is_err() {
                ok = Err(());
            }
        }
        ok
    }

    /// [`Validator::check`] for a value whose directives are known to be valid.
    fn check_shallow(&mut self, check: Check, v: &Value, ptr: &mut Ptr) -> Checked {
        match (check, kind(v)) {
            (Check::DirOrRaw | Check::DirOrStr | Check::DirOrObj, "directive") => Ok(()),
            (Check::DirOrObj, "object") => Ok(()),
            _ => self.check(check, Some(v), ptr),
        }
    }

    fn check(&mut self, check: Check, v: Option<&Value>, ptr: &mut Ptr) -> Checked {
        let Some(v) = v else {
            // Only `@arrayPath: []` gets here: its path is undefined.
            return self.err(
                ptr,
                MappingErrorKind::WrongType,
                "should be a string or a directive, but it is missing".to_owned(),
                None,
            );
        };
        let directive = kind(v) == "directive";
        match check {
            Check::DirOrRaw => match v {
                Value::Object(map) if directive => self.directive(map, ptr),
                _ => Ok(()),
            },
            Check::DirOrStr => match v {
                Value::Object(map) if directive => self.directive(map, ptr),
                Value::String(_) => Ok(()),
                _ => self.wrong_type(ptr, v, "a string or a directive"),
            },
            Check::DirOrObj => match v {
                Value::Object(map) if directive => self.directive(map, ptr),
                Value::Object(map) => self.object(map, ptr),
                _ => self.wrong_type(ptr, v, "an object or a directive"),
            },
            Check::Str => match v {
                Value::String(_) => Ok(()),
                _ => self.wrong_type(ptr, v, "a string"),
            },
            Check::StrLen(min, max) => match v {
                Value::String(s) if js_len(s) < min => self.err(
                    ptr,
                    MappingErrorKind::TooShort,
                    format!(
                        "should be at least {min} character{} long",
                        if min == 1 { "" } else { "s" }
                    ),
                    None,
                ),
                Value::String(s) if js_len(s) > max => self.err(
                    ptr,
                    MappingErrorKind::TooLong,
                    format!("should be at most {max} characters long, but it has {}", js_len(s)),
                    Some("Segment limits @replace patterns and replacements to 10 characters".to_owned()),
                ),
                Value::String(_) => Ok(()),
                _ => self.wrong_type(ptr, v, "a string"),
            },
            Check::Bool => match v {
                Value::Bool(_) => Ok(()),
                _ => self.wrong_type(ptr, v, "true or false"),
            },
            Check::ArrOf(_) => match v {
                Value::Array(_) => Ok(()),
                _ => self.wrong_type(ptr, v, "an array"),
            },
            Check::OneOf(allowed) => match v {
                // Checked in lower case (the directive then compares exactly).
                Value::String(s) if allowed.contains(&s.to_lowercase().as_str()) => Ok(()),
                Value::String(s) => self.err(
                    ptr,
                    MappingErrorKind::NotAllowed,
                    format!("should be one of {}, but it is \"{s}\"", allowed.join(", ")),
                    None,
                ),
                _ => self.wrong_type(ptr, v, &format!("one of {}", allowed.join(", "))),
            },
        }
    }
}
