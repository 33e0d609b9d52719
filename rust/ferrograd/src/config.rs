//! Keras's configuration vocabulary: how the engine's types read and write the JSON that
//! Keras's `get_config()` / `from_config()` exchange.
//!
//! Every type Keras serializes (layers, losses, optimizers and their schedules, metrics,
//! activations, initializers, regularizers) reads its own config beside its forward and backward
//! code, with Keras's documented defaults for missing keys, and writes it back. Everything else —
//! the model file, the bindings, the Python classes — goes through this one place, so one
//! argument is described once. This module is the reader they share and the trait of the
//! families whose values are plain data ([`KerasObject`]); layers, which are trait objects, use
//! [`Config`] the same way through the table in `nn::registry`.
//!
//! A serialized object is Keras 3's
//! `{"module": "keras.losses", "class_name": "Huber", "config": {"delta": 1.0}, "registered_name": null}`;
//! a bare string (`"mse"`, `"adam"`) stands for the class with its defaults, as Keras's string
//! shortcuts do. Keys the engine does not use are ignored (Keras writes many: `name`, `dtype`,
//! ...); keys it uses must hold the right kind of value or reading fails with an error naming
//! the class, the key and what it holds.
//!
//! ```
//! use ferrograd::config::Config;
//! use serde_json::json;
//!
//! let value = json!({"name": "dense", "units": 3});
//! let c = Config::new("Dense", &value).unwrap();
//! assert_eq!(c.positive("units").unwrap(), 3);
//! assert!(c.bool_or("use_bias", true).unwrap());
//! let err = Config::new("Dense", &json!({"units": "three"})).unwrap().positive("units");
//! assert!(err.unwrap_err().to_string().contains("'units' must be a positive integer"));
//! ```

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};

fn bad(message: impl Into<String>) -> Error {
    Error::Format(message.into())
}

/// A value Keras serializes as `{"module", "class_name", "config", "registered_name"}`: a
/// family of plain-data types (a loss, an optimizer's update rule, a schedule, a metric, a
/// regularizer, ...). One implementation per family, next to the type.
pub trait KerasObject: Sized {
    /// Keras's module of the family (`"keras.losses"`), written into serialized objects.
    const MODULE: &'static str;

    /// Keras's class name of this value (`"Huber"`).
    fn class_name(&self) -> &'static str;

    /// Keras's `get_config()`: every argument that defines the value, defaults included.
    fn to_config(&self) -> Map<String, Value>;

    /// The value of class `class_name` (or one of the family's string shortcuts, such as
    /// `"mse"`) from its config; missing keys take Keras's defaults. An unknown class is an error
    /// that lists the family's classes.
    fn from_config(class_name: &str, config: &Config<'_>) -> Result<Self>;
}

/// Keras 3's serialized form of `value`.
pub fn serialize<T: KerasObject>(value: &T) -> Value {
    json!({
        "module": T::MODULE,
        "class_name": value.class_name(),
        "config": Value::Object(value.to_config()),
        "registered_name": null,
    })
}

/// The value a serialized object (or a string shortcut) describes.
pub fn deserialize<T: KerasObject>(value: &Value) -> Result<T> {
    match value {
        Value::String(name) => T::from_config(name, &Config::new(name, &EMPTY)?),
        Value::Object(_) => {
            let (class, config) = class_and_config(value)?;
            T::from_config(class, &Config::new(class, config)?)
        }
        other => Err(bad(format!(
            "expected a {} object (a name or {{\"class_name\", \"config\"}}), got {}",
            T::MODULE,
            short(other)
        ))),
    }
}

static EMPTY: Value = Value::Null;

/// `(class_name, config)` of a serialized object; a missing or null `config` reads as empty.
pub fn class_and_config(value: &Value) -> Result<(&str, &Value)> {
    let class = value
        .get("class_name")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("an entry has no 'class_name': {}", short(value))))?;
    Ok((class, value.get("config").unwrap_or(&EMPTY)))
}

/// A JSON value shortened for an error message.
pub fn short(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(117) {
        Some((cut, _)) if text.len() > 120 => format!("{}...", &text[..cut]),
        _ => text,
    }
}

/// A JSON object from `key: value` pairs (for `to_config` implementations).
pub fn object(pairs: impl IntoIterator<Item = (&'static str, Value)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// One object's config, with typed getters whose errors name the class (and the layer's name,
/// when the config has one) and the key. `null` reads as missing, as Keras's `None`.
#[derive(Clone, Copy)]
pub struct Config<'a> {
    class: &'a str,
    name: Option<&'a str>,
    map: Option<&'a Map<String, Value>>,
}

impl<'a> Config<'a> {
    /// The config of a `class` object: a JSON object, or null / nothing for "all defaults".
    pub fn new(class: &'a str, value: &'a Value) -> Result<Config<'a>> {
        let map = match value {
            Value::Null => None,
            Value::Object(map) => Some(map),
            other => {
                return Err(bad(format!(
                    "the config of a {class} is not a JSON object: {}",
                    short(other)
                )))
            }
        };
        let name = map.and_then(|m| m.get("name")).and_then(Value::as_str);
        Ok(Config { class, name, map })
    }

    /// The class this config is read for.
    pub fn class(&self) -> &'a str {
        self.class
    }

    /// The `name` key, if any.
    pub fn name(&self) -> Option<&'a str> {
        self.name
    }

    /// The `name` key, which layers must have.
    pub fn required_name(&self) -> Result<&'a str> {
        self.name
            .ok_or_else(|| bad(format!("a {} layer's config has no 'name'", self.class)))
    }

    /// Who the config belongs to, for messages: `layer 'dense' (Dense)` or `Adam`.
    pub fn owner(&self) -> String {
        match self.name {
            Some(name) => format!("layer '{name}' ({})", self.class),
            None => self.class.to_string(),
        }
    }

    /// An error for `key` holding something other than `expected`.
    pub fn err(&self, key: &str, expected: &str) -> Error {
        bad(format!(
            "{}: config key '{key}' must be {expected}, got {}",
            self.owner(),
            self.map
                .and_then(|m| m.get(key))
                .map_or("nothing".to_string(), short)
        ))
    }

    /// The raw value of `key`, `None` when missing or null.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map?.get(key).filter(|v| !v.is_null())
    }

    /// Whether `key` holds a value (not missing, not null).
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Whether `key` is there and explicitly null (Keras's `None`, which for a few keys, such as
    /// a loss's `reduction`, means something other than the default).
    pub fn is_null(&self, key: &str) -> bool {
        self.map
            .and_then(|m| m.get(key))
            .is_some_and(Value::is_null)
    }

    pub fn usize(&self, key: &str) -> Result<usize> {
        self.get(key)
            .and_then(as_usize)
            .ok_or_else(|| self.err(key, "a non-negative integer"))
    }

    /// A size that must be at least one (units, filters, vocabulary sizes): Keras refuses 0.
    pub fn positive(&self, key: &str) -> Result<usize> {
        self.get(key)
            .and_then(as_usize)
            .filter(|&v| v > 0)
            .ok_or_else(|| self.err(key, "a positive integer"))
    }

    pub fn usize_or(&self, key: &str, default: usize) -> Result<usize> {
        self.get(key).map_or(Ok(default), |_| self.usize(key))
    }

    pub fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        self.get(key).map(|_| self.usize(key)).transpose()
    }

    /// An integer that may be negative (an axis).
    pub fn int_or(&self, key: &str, default: isize) -> Result<isize> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => as_isize(v).ok_or_else(|| self.err(key, "an integer")),
        }
    }

    /// A number that must be there.
    pub fn f64(&self, key: &str) -> Result<f64> {
        self.get(key)
            .and_then(Value::as_f64)
            .ok_or_else(|| self.err(key, "a number"))
    }

    pub fn f64_or(&self, key: &str, default: f64) -> Result<f64> {
        self.get(key).map_or(Ok(default), |_| self.f64(key))
    }

    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        self.get(key).map(|_| self.f64(key)).transpose()
    }

    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| self.err(key, "true or false")),
        }
    }

    pub fn str_or(&self, key: &str, default: &'a str) -> Result<&'a str> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_str().ok_or_else(|| self.err(key, "a string")),
        }
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>> {
        self.get(key)
            .map(|v| v.as_str().ok_or_else(|| self.err(key, "a string")))
            .transpose()
    }

    /// A list of numbers that must be there.
    pub fn f64s(&self, key: &str) -> Result<Vec<f64>> {
        self.get(key)
            .and_then(Value::as_array)
            .and_then(|items| items.iter().map(Value::as_f64).collect())
            .ok_or_else(|| self.err(key, "a list of numbers"))
    }

    /// An int or a list of `n` ints (Keras's `standardize_tuple`); `default` fills all `n`
    /// when the key is missing.
    pub fn tuple(&self, key: &str, n: usize, default: Option<usize>) -> Result<Vec<usize>> {
        let expected = format!("an integer or a list of {n}");
        match self.get(key) {
            None => default
                .map(|d| vec![d; n])
                .ok_or_else(|| self.err(key, &expected)),
            Some(Value::Array(items)) if items.len() == n => items
                .iter()
                .map(as_usize)
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| self.err(key, &expected)),
            Some(v) => as_usize(v)
                .map(|x| vec![x; n])
                .ok_or_else(|| self.err(key, &expected)),
        }
    }

    /// An int or a list of ints (possibly negative: axes); `default` alone when missing.
    pub fn ints_or(&self, key: &str, default: &[isize]) -> Result<Vec<isize>> {
        let expected = "an integer or a list of integers";
        match self.get(key) {
            None => Ok(default.to_vec()),
            Some(Value::Array(items)) => items
                .iter()
                .map(as_isize)
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| self.err(key, expected)),
            Some(v) => as_isize(v)
                .map(|x| vec![x])
                .ok_or_else(|| self.err(key, expected)),
        }
    }

    /// A list of sizes or nulls (a shape with unknown axes), `None` when missing.
    pub fn opt_shape(&self, key: &str) -> Result<Option<Vec<Option<usize>>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::Null => Some(None),
                    v => as_usize(v).map(Some),
                })
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| self.err(key, "a list of sizes or nulls")),
            Some(_) => Err(self.err(key, "a list of sizes or nulls")),
        }
    }

    /// A nested serialized object of another family (a layer's regularizer), `None` when
    /// missing.
    pub fn object<T: KerasObject>(&self, key: &str) -> Result<Option<T>> {
        self.get(key)
            .map(|v| {
                deserialize::<T>(v)
                    .map_err(|e| bad(format!("{}: config key '{key}': {e}", self.owner())))
            })
            .transpose()
    }
}

fn as_usize(v: &Value) -> Option<usize> {
    v.as_u64().and_then(|x| usize::try_from(x).ok())
}

fn as_isize(v: &Value) -> Option<isize> {
    v.as_i64().and_then(|x| isize::try_from(x).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Penalty {
        Small { factor: f64 },
    }

    impl KerasObject for Penalty {
        const MODULE: &'static str = "test.penalties";
        fn class_name(&self) -> &'static str {
            "Small"
        }
        fn to_config(&self) -> Map<String, Value> {
            let Penalty::Small { factor } = self;
            object([("factor", json!(factor))])
        }
        fn from_config(class_name: &str, c: &Config<'_>) -> Result<Self> {
            match class_name {
                "Small" | "small" => Ok(Penalty::Small {
                    factor: c.f64_or("factor", 0.5)?,
                }),
                other => Err(bad(format!("unknown penalty '{other}'"))),
            }
        }
    }

    #[test]
    fn round_trip_and_shortcuts() {
        let p = Penalty::Small { factor: 2.0 };
        let v = serialize(&p);
        assert_eq!(v["module"], "test.penalties");
        assert_eq!(deserialize::<Penalty>(&v).unwrap(), p);
        assert_eq!(
            deserialize::<Penalty>(&json!("small")).unwrap(),
            Penalty::Small { factor: 0.5 }
        );
        let missing_config = json!({"class_name": "Small"});
        assert_eq!(
            deserialize::<Penalty>(&missing_config).unwrap(),
            Penalty::Small { factor: 0.5 }
        );
        assert!(deserialize::<Penalty>(&json!(3)).is_err());
    }

    #[test]
    fn getters_name_the_owner_key_and_value() {
        let v = json!({"name": "d", "units": 0, "k": [1, 2], "axis": -1, "s": null});
        let c = Config::new("Dense", &v).unwrap();
        let msg = c.positive("units").unwrap_err().to_string();
        assert!(msg.contains("layer 'd' (Dense)") && msg.contains("'units'") && msg.contains('0'));
        assert_eq!(c.tuple("k", 2, None).unwrap(), vec![1, 2]);
        assert!(c.tuple("k", 3, None).is_err());
        assert_eq!(c.tuple("missing", 2, Some(1)).unwrap(), vec![1, 1]);
        assert_eq!(c.ints_or("axis", &[0]).unwrap(), vec![-1]);
        assert_eq!(c.opt_f64("s").unwrap(), None); // null is missing
        assert!(c.int_or("k", 0).is_err());
        let nested = json!({"p": {"class_name": "Big", "config": {}}});
        let c = Config::new("Dense", &nested).unwrap();
        let msg = c.object::<Penalty>("p").unwrap_err().to_string();
        assert!(msg.contains("'p'") && msg.contains("Big"), "{msg}");
        assert!(Config::new("Dense", &json!([1])).is_err());
    }
}
