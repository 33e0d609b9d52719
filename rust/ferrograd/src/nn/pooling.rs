//! Keras's pooling and spatial reshaping layers, channels-last, over 1 or 2 spatial axes:
//! `MaxPooling1D/2D`, `AveragePooling1D/2D` ([`Pooling`]), `GlobalMaxPooling1D/2D`,
//! `GlobalAveragePooling1D/2D` ([`GlobalPooling`]), `ZeroPadding1D/2D` ([`ZeroPadding`]),
//! `Cropping1D/2D` ([`Cropping`]) and `UpSampling1D/2D` ([`UpSampling`], nearest neighbour, or
//! bilinear in 2-D: see [`Interpolation`]).
//!
//! Inputs are `(batch, length, channels)` for the 1-D layers and `(batch, height, width,
//! channels)` for the 2-D ones. The 1-D poolings run the 2-D kernel on a `(batch, 1, length,
//! channels)` view.
//!
//! ```
//! use ferrograd::nn::{Layer, PoolMode, Pooling};
//! use ferrograd::ops::PoolPadding;
//! use ferrograd::{DType, Tensor};
//!
//! let pool = Pooling::new("pool", PoolMode::Max, &[2, 2], None, PoolPadding::Valid).unwrap();
//! assert_eq!(
//!     pool.output_shapes(&[vec![None, Some(28), Some(28), Some(8)]]).unwrap(),
//!     vec![vec![None, Some(14), Some(14), Some(8)]]
//! );
//! let y = pool.call(&[Tensor::zeros(&[2, 5, 5, 3], DType::F32)], false).unwrap();
//! assert_eq!(y[0].shape(), vec![2, 2, 2, 3]);
//! ```

use ndarray::ArrayD;

use super::*;
use crate::ops::{Pool2dOptions, PoolPadding, SliceSpec};

/// What a pooling window keeps: its maximum or its mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    Max,
    Average,
}

/// Checks that `shape` is `(batch, <rank spatial axes>, channels)`.
fn check_rank(layer: &str, class: &'static str, rank: usize, shape: &Shape) -> Result<()> {
    if shape.len() == rank + 2 {
        return Ok(());
    }
    let expected = if rank == 1 {
        "(batch, length, channels)"
    } else {
        "(batch, height, width, channels)"
    };
    Err(Error::Shape {
        op: class,
        message: format!(
            "layer '{layer}' expects a {}-D input {expected}, got input shape {}",
            rank + 2,
            format_shape(shape)
        ),
    })
}

/// Checks that a layer's per-axis argument has one entry per spatial axis and none is zero.
fn per_axis<T: Copy + std::fmt::Debug>(
    class: &'static str,
    what: &str,
    values: &[T],
    rank: usize,
) -> Result<()> {
    if values.len() != rank {
        return Err(Error::argument(
            class,
            format!("{what} needs {rank} value(s), one per spatial axis, got {values:?}"),
        ));
    }
    Ok(())
}

fn spatial_rank(class: &'static str, rank: usize) -> Result<usize> {
    if rank == 1 || rank == 2 {
        Ok(rank)
    } else {
        Err(Error::argument(
            class,
            format!("only 1 or 2 spatial axes are supported, got {rank}"),
        ))
    }
}

/// Runs a 2-D op on a 1-D input through a `(batch, 1, length, channels)` view.
fn through_2d(
    x: &Tensor,
    rank: usize,
    op: impl FnOnce(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    if rank == 2 {
        return op(x);
    }
    let y = op(&x.expand_dims(1)?)?;
    y.squeeze(Some(&[1]))
}

pub(crate) const CLASSES: &[LayerClass] = &[
    LayerClass {
        name: "MaxPooling1D",
        make: |c, _| Ok(Made::plain(Pooling::from_config(c)?)),
    },
    LayerClass {
        name: "MaxPooling2D",
        make: |c, _| Ok(Made::plain(Pooling::from_config(c)?)),
    },
    LayerClass {
        name: "AveragePooling1D",
        make: |c, _| Ok(Made::plain(Pooling::from_config(c)?)),
    },
    LayerClass {
        name: "AveragePooling2D",
        make: |c, _| Ok(Made::plain(Pooling::from_config(c)?)),
    },
    LayerClass {
        name: "GlobalMaxPooling1D",
        make: |c, _| Ok(Made::plain(GlobalPooling::from_config(c)?)),
    },
    LayerClass {
        name: "GlobalMaxPooling2D",
        make: |c, _| Ok(Made::plain(GlobalPooling::from_config(c)?)),
    },
    LayerClass {
        name: "GlobalAveragePooling1D",
        make: |c, _| Ok(Made::plain(GlobalPooling::from_config(c)?)),
    },
    LayerClass {
        name: "GlobalAveragePooling2D",
        make: |c, _| Ok(Made::plain(GlobalPooling::from_config(c)?)),
    },
    LayerClass {
        name: "ZeroPadding1D",
        make: |c, _| {
            registry::channels_last(c)?;
            let padding = pairs(c, "padding")?;
            Ok(Made::plain(ZeroPadding::new(c.required_name()?, padding)?))
        },
    },
    LayerClass {
        name: "ZeroPadding2D",
        make: |c, _| {
            registry::channels_last(c)?;
            let padding = pairs(c, "padding")?;
            Ok(Made::plain(ZeroPadding::new(c.required_name()?, padding)?))
        },
    },
    LayerClass {
        name: "Cropping1D",
        make: |c, _| {
            registry::channels_last(c)?;
            let cropping = pairs(c, "cropping")?;
            Ok(Made::plain(Cropping::new(c.required_name()?, cropping)?))
        },
    },
    LayerClass {
        name: "Cropping2D",
        make: |c, _| {
            registry::channels_last(c)?;
            let cropping = pairs(c, "cropping")?;
            Ok(Made::plain(Cropping::new(c.required_name()?, cropping)?))
        },
    },
    LayerClass {
        name: "UpSampling1D",
        make: |c, _| Ok(Made::plain(UpSampling::from_config(c)?)),
    },
    LayerClass {
        name: "UpSampling2D",
        make: |c, _| Ok(Made::plain(UpSampling::from_config(c)?)),
    },
];

/// Pairs of padding/cropping per spatial axis: Keras writes an int, a pair per axis, or (for
/// the 1-D layers) one pair.
fn pairs(c: &Config<'_>, key: &str) -> Result<Vec<(usize, usize)>> {
    use serde_json::Value;
    let rank = registry::spatial_rank(c);
    let expected = "an integer, a pair, or a pair per spatial axis";
    let v = c.get(key).ok_or_else(|| c.err(key, expected))?;
    let size = |v: &Value| v.as_u64().and_then(|x| usize::try_from(x).ok());
    let pair = |v: &Value| -> Option<(usize, usize)> {
        match v {
            Value::Array(p) if p.len() == 2 => Some((size(&p[0])?, size(&p[1])?)),
            other => size(other).map(|x| (x, x)),
        }
    };
    let out = match v {
        Value::Array(items) if rank == 1 => pair(v)
            .map(|p| vec![p])
            .or_else(|| (items.len() == 1).then(|| pair(&items[0]).map(|p| vec![p]))?),
        Value::Array(items) if items.len() == rank => items.iter().map(pair).collect(),
        other => size(other).map(|x| vec![(x, x); rank]),
    };
    out.ok_or_else(|| c.err(key, expected))
}

/// Keras's `MaxPooling1D/2D` and `AveragePooling1D/2D`.
pub struct Pooling {
    core: LayerCore,
    mode: PoolMode,
    rank: usize,
    /// The 2-D options; a 1-D pooling has a height window and stride of 1.
    options: Pool2dOptions,
}

impl Pooling {
    /// Keras's `MaxPooling1D/2D` and `AveragePooling1D/2D` configs: `pool_size` (2),
    /// `strides` (`pool_size`), `padding` ("valid"); channels_last only.
    pub fn from_config(c: &Config<'_>) -> Result<Pooling> {
        registry::channels_last(c)?;
        let r = registry::spatial_rank(c);
        let mode = match c.class().starts_with("Max") {
            true => PoolMode::Max,
            false => PoolMode::Average,
        };
        let pool = c.tuple("pool_size", r, Some(2))?;
        let strides = match c.has("strides") {
            true => c.tuple("strides", r, None)?,
            false => pool.clone(),
        };
        let padding = PoolPadding::parse(c.str_or("padding", "valid")?)?;
        Pooling::new(c.required_name()?, mode, &pool, Some(&strides), padding)
    }

    /// A pooling over `pool_size.len()` (1 or 2) spatial axes; `strides=None` means
    /// `pool_size`, as in Keras.
    pub fn new(
        name: impl Into<String>,
        mode: PoolMode,
        pool_size: &[usize],
        strides: Option<&[usize]>,
        padding: PoolPadding,
    ) -> Result<Pooling> {
        let class = "Pooling";
        let rank = spatial_rank(class, pool_size.len())?;
        let strides = strides.unwrap_or(pool_size);
        per_axis(class, "strides", strides, rank)?;
        let lift = |v: &[usize]| if rank == 1 { [1, v[0]] } else { [v[0], v[1]] };
        let options = Pool2dOptions::new(lift(pool_size), Some(lift(strides)), padding);
        if pool_size.contains(&0) || strides.contains(&0) {
            return Err(Error::argument(
                class,
                format!(
                    "pool_size and strides must be positive, got pool_size={pool_size:?}, \
                     strides={strides:?}"
                ),
            ));
        }
        let core = LayerCore::new(name);
        core.set_built();
        Ok(Pooling {
            core,
            mode,
            rank,
            options,
        })
    }

    pub fn mode(&self) -> PoolMode {
        self.mode
    }

    /// The window per spatial axis (one value for 1-D).
    pub fn pool_size(&self) -> Vec<usize> {
        self.options.pool_size[2 - self.rank..].to_vec()
    }

    pub fn strides(&self) -> Vec<usize> {
        self.options.strides[2 - self.rank..].to_vec()
    }

    pub fn padding(&self) -> PoolPadding {
        self.options.padding
    }
}

impl Layer for Pooling {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn class_name(&self) -> &str {
        match (self.mode, self.rank) {
            (PoolMode::Max, 1) => "MaxPooling1D",
            (PoolMode::Max, _) => "MaxPooling2D",
            (PoolMode::Average, 1) => "AveragePooling1D",
            (PoolMode::Average, _) => "AveragePooling2D",
        }
    }

    fn config(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        use serde_json::json;
        config_of([
            ("pool_size", json!(self.pool_size())),
            ("padding", json!(self.padding().name())),
            ("strides", json!(self.strides())),
            ("data_format", json!("channels_last")),
        ])
    }

    fn output_shapes(&self, input_shapes: &[Shape]) -> Result<Vec<Shape>> {
        let shape = single(self.name(), input_shapes)?;
        let class = if self.mode == PoolMode::Max {
            "MaxPooling"
        } else {
            "AveragePooling"
        };
        check_rank(self.name(), class, self.rank, shape)?;
        let mut out = shape.clone();
        for axis in 0..self.rank {
            let option_axis = axis + 2 - self.rank;
            out[1 + axis] = match shape[1 + axis] {
                None => None,
                Some(len) => Some(self.options.output_length(option_axis, len).ok_or_else(
                    || Error::Shape {
                        op: class,
                        message: format!(
                            "layer '{}': pool_size {:?} is larger than the input (input shape {}) \
                             with padding='valid'; use a smaller pool_size or padding='same'",
                            self.name(),
                            self.pool_size(),
                            format_shape(shape)
                        ),
                    },
                )?),
            };
        }
        Ok(vec![out])
    }

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Vec<Tensor>> {
        let x = single(self.name(), inputs)?;
        self.output_shapes(&[known(&x.shape())])?;
        let options = self.options;
        let y = through_2d(x, self.rank, |x| match self.mode {
            PoolMode::Max => x.max_pool2d(options),
            PoolMode::Average => x.avg_pool2d(options),
        })?;
        Ok(vec![y])
    }
}

/// Keras's `GlobalMaxPooling1D/2D` and `GlobalAveragePooling1D/2D`: the maximum or mean over
/// every spatial axis; `keepdims` keeps them with length 1.
pub struct GlobalPooling {
    core: LayerCore,
    mode: PoolMode,
    rank: usize,
    keepdims: bool,
}

impl GlobalPooling {
    /// Keras's `Global{Max,Average}Pooling{1,2}D` configs: `keepdims` (false).
    pub fn from_config(c: &Config<'_>) -> Result<GlobalPooling> {
        registry::channels_last(c)?;
        let mode = match c.class().starts_with("GlobalMax") {
            true => PoolMode::Max,
            false => PoolMode::Average,
        };
        GlobalPooling::new(
            c.required_name()?,
            mode,
            registry::spatial_rank(c),
            c.bool_or("keepdims", false)?,
        )
    }

    pub fn new(
        name: impl Into<String>,
        mode: PoolMode,
        rank: usize,
        keepdims: bool,
    ) -> Result<GlobalPooling> {
        let rank = spatial_rank("GlobalPooling", rank)?;
        let core = LayerCore::new(name);
        core.set_built();
        Ok(GlobalPooling {
            core,
            mode,
            rank,
            keepdims,
        })
    }

    pub fn keepdims(&self) -> bool {
        self.keepdims
    }
}

impl Layer for GlobalPooling {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn class_name(&self) -> &str {
        match (self.mode, self.rank) {
            (PoolMode::Max, 1) => "GlobalMaxPooling1D",
            (PoolMode::Max, _) => "GlobalMaxPooling2D",
            (PoolMode::Average, 1) => "GlobalAveragePooling1D",
            (PoolMode::Average, _) => "GlobalAveragePooling2D",
        }
    }

    fn config(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        use serde_json::json;
        config_of([
            ("data_format", json!("channels_last")),
            ("keepdims", json!(self.keepdims)),
        ])
    }

    fn output_shapes(&self, input_shapes: &[Shape]) -> Result<Vec<Shape>> {
        let shape = single(self.name(), input_shapes)?;
        check_rank(self.name(), "GlobalPooling", self.rank, shape)?;
        if shape[1..=self.rank].contains(&Some(0)) {
            return Err(Error::Shape {
                op: "GlobalPooling",
                message: format!(
                    "layer '{}' cannot pool over an empty spatial axis, got input shape {}",
                    self.name(),
                    format_shape(shape)
                ),
            });
        }
        let channels = shape[self.rank + 1];
        let out = if self.keepdims {
            let mut out = vec![shape[0]];
            out.extend(std::iter::repeat_n(Some(1), self.rank));
            out.push(channels);
            out
        } else {
            vec![shape[0], channels]
        };
        Ok(vec![out])
    }

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Vec<Tensor>> {
        let x = single(self.name(), inputs)?;
        self.output_shapes(&[known(&x.shape())])?;
        let axes: Vec<isize> = (1..=self.rank as isize).collect();
        let y = match self.mode {
            PoolMode::Max => x.max(Some(&axes), self.keepdims)?,
            PoolMode::Average => x.mean(Some(&axes), self.keepdims)?,
        };
        Ok(vec![y])
    }

    /// Keras's `GlobalAveragePooling1D` with a mask: the mean over the unmasked steps only (a
    /// sample with every step masked gets 0/0, as in Keras). The other global poolings
    /// ignore a mask, as Keras's do; none passes it on.
    fn call_masked(
        &self,
        inputs: &[Tensor],
        masks: &[Option<Tensor>],
        training: bool,
    ) -> Result<Vec<Tensor>> {
        let mask = masks.first().and_then(Option::as_ref);
        let (PoolMode::Average, 1, Some(mask)) = (self.mode, self.rank, mask) else {
            return self.call(inputs, training);
        };
        let x = single(self.name(), inputs)?;
        self.output_shapes(&[known(&x.shape())])?;
        let xs = x.shape();
        if mask.shape() != xs[..2] {
            return Err(Error::Shape {
                op: "GlobalPooling",
                message: format!(
                    "layer '{}': mask of shape {} does not fit inputs of shape {}: it needs (batch, steps) = {}",
                    self.name(),
                    format_shape(&known(&mask.shape())),
                    format_shape(&known(&xs)),
                    format_shape(&known(&xs[..2]))
                ),
            });
        }
        let weights = mask.cast(x.dtype())?.expand_dims(-1)?;
        let total = x.mul(&weights)?.sum(Some(&[1]), self.keepdims)?;
        let count = weights.sum(Some(&[1]), self.keepdims)?;
        Ok(vec![total.div(&count)?])
    }
}

/// `(before, after)` per spatial axis in Keras's config layout: one pair for a 1-D layer, a pair
/// per axis for a 2-D one.
fn pairs_value(pairs: &[(usize, usize)]) -> serde_json::Value {
    let pairs: Vec<[usize; 2]> = pairs.iter().map(|&(a, b)| [a, b]).collect();
    match pairs.as_slice() {
        [one] => serde_json::json!(one),
        all => serde_json::json!(all),
    }
}

/// Keras's `ZeroPadding1D/2D`: zeros added before and after each spatial axis.
pub struct ZeroPadding {
    core: LayerCore,
    /// `(before, after)` per spatial axis.
    padding: Vec<(usize, usize)>,
}

impl ZeroPadding {
    pub fn new(name: impl Into<String>, padding: Vec<(usize, usize)>) -> Result<ZeroPadding> {
        spatial_rank("ZeroPadding", padding.len())?;
        let core = LayerCore::new(name);
        core.set_built();
        Ok(ZeroPadding { core, padding })
    }

    pub fn padding(&self) -> &[(usize, usize)] {
        &self.padding
    }
}

impl Layer for ZeroPadding {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn class_name(&self) -> &str {
        if self.padding.len() == 1 {
            "ZeroPadding1D"
        } else {
            "ZeroPadding2D"
        }
    }

    /// Keras's layout: `[before, after]` in 1-D, `[[top, bottom], [left, right]]` in 2-D.
    fn config(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        use serde_json::json;
        config_of([
            ("padding", pairs_value(&self.padding)),
            ("data_format", json!("channels_last")),
        ])
    }

    fn output_shapes(&self, input_shapes: &[Shape]) -> Result<Vec<Shape>> {
        let shape = single(self.name(), input_shapes)?;
        check_rank(self.name(), "ZeroPadding", self.padding.len(), shape)?;
        let mut out = shape.clone();
        for (axis, &(before, after)) in self.padding.iter().enumerate() {
            out[1 + axis] = shape[1 + axis].map(|d| d + before + after);
        }
        Ok(vec![out])
    }

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Vec<Tensor>> {
        let x = single(self.name(), inputs)?;
        self.output_shapes(&[known(&x.shape())])?;
        let mut widths = vec![(0, 0)];
        widths.extend(self.padding.iter().copied());
        widths.push((0, 0));
        Ok(vec![x.pad(&widths, 0.0)?])
    }
}

/// Keras's `Cropping1D/2D`: rows removed from the start and end of each spatial axis.
pub struct Cropping {
    core: LayerCore,
    /// `(start, end)` per spatial axis.
    cropping: Vec<(usize, usize)>,
}

impl Cropping {
    pub fn new(name: impl Into<String>, cropping: Vec<(usize, usize)>) -> Result<Cropping> {
        spatial_rank("Cropping", cropping.len())?;
        let core = LayerCore::new(name);
        core.set_built();
        Ok(Cropping { core, cropping })
    }

    pub fn cropping(&self) -> &[(usize, usize)] {
        &self.cropping
    }
}

impl Layer for Cropping {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn class_name(&self) -> &str {
        if self.cropping.len() == 1 {
            "Cropping1D"
        } else {
            "Cropping2D"
        }
    }

    /// Keras's layout: `[start, end]` in 1-D (whose Keras class takes no `data_format`),
    /// `[[top, bottom], [left, right]]` in 2-D.
    fn config(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        let mut config = config_of([("cropping", pairs_value(&self.cropping))])?;
        if self.cropping.len() == 2 {
            config.insert("data_format".into(), "channels_last".into());
        }
        Some(config)
    }

    fn output_shapes(&self, input_shapes: &[Shape]) -> Result<Vec<Shape>> {
        let shape = single(self.name(), input_shapes)?;
        check_rank(self.name(), "Cropping", self.cropping.len(), shape)?;
        let mut out = shape.clone();
        for (axis, &(start, end)) in self.cropping.iter().enumerate() {
            out[1 + axis] = match shape[1 + axis] {
                None => None,
                // Keras: the cropped axis must keep at least one element.
                Some(len) if start + end < len => Some(len - start - end),
                Some(_) => {
                    return Err(Error::Shape {
                        op: "Cropping",
                        message: format!(
                            "layer '{}': cropping {:?} removes every element of spatial axis {} \
                             of input shape {}",
                            self.name(),
                            self.cropping,
                            axis + 1,
                            format_shape(shape)
                        ),
                    })
                }
            };
        }
        Ok(vec![out])
    }

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Vec<Tensor>> {
        let x = single(self.name(), inputs)?;
        self.output_shapes(&[known(&x.shape())])?;
        let shape = x.shape();
        let mut specs = vec![SliceSpec::full()];
        for (axis, &(start, end)) in self.cropping.iter().enumerate() {
            let len = shape[1 + axis];
            specs.push(SliceSpec::range(start as isize, (len - end) as isize));
        }
        Ok(vec![x.slice(&specs)?])
    }
}

/// How [`UpSampling`] fills the new rows and columns (Keras's `interpolation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpolation {
    /// Each element repeated `size` times (Keras's default, the only mode of `UpSampling1D`).
    Nearest,
    /// Half-pixel-centred bilinear interpolation with clamped edges, as Keras 3's
    /// `ops.image.resize(interpolation="bilinear")`; `UpSampling2D` only.
    Bilinear,
}

impl Interpolation {
    /// The interpolations Keras's `UpSampling2D` accepts that are implemented here.
    pub const SUPPORTED: [&'static str; 2] = ["nearest", "bilinear"];

    /// Keras's name.
    pub fn name(self) -> &'static str {
        match self {
            Interpolation::Nearest => "nearest",
            Interpolation::Bilinear => "bilinear",
        }
    }

    /// From Keras's name, case-insensitive as Keras (which lower-cases it).
    pub fn parse(name: &str) -> Result<Interpolation> {
        match name.to_ascii_lowercase().as_str() {
            "nearest" => Ok(Interpolation::Nearest),
            "bilinear" => Ok(Interpolation::Bilinear),
            _ => Err(Error::argument(
                "UpSampling",
                format!(
                    "interpolation must be one of {:?}, got '{name}'",
                    Interpolation::SUPPORTED
                ),
            )),
        }
    }
}

/// Keras's `UpSampling1D/2D`: each spatial axis made `size` times longer, by repeating its
/// elements (nearest) or, for 2-D inputs, by bilinear interpolation.
pub struct UpSampling {
    core: LayerCore,
    size: Vec<usize>,
    interpolation: Interpolation,
}

impl UpSampling {
    /// Keras's `UpSampling1D/2D` configs: `size` (2), `interpolation` ("nearest").
    pub fn from_config(c: &Config<'_>) -> Result<UpSampling> {
        registry::channels_last(c)?;
        let interpolation = match c.str_or("interpolation", "nearest")? {
            "nearest" => Interpolation::Nearest,
            "bilinear" => Interpolation::Bilinear,
            _ => return Err(c.err("interpolation", "'nearest' or 'bilinear'")),
        };
        let size = c.tuple("size", registry::spatial_rank(c), Some(2))?;
        UpSampling::with_interpolation(c.required_name()?, size, interpolation)
    }

    /// Nearest-neighbour upsampling by `size` (one factor per spatial axis).
    pub fn new(name: impl Into<String>, size: Vec<usize>) -> Result<UpSampling> {
        UpSampling::with_interpolation(name, size, Interpolation::Nearest)
    }

    /// Upsampling by `size` with the given interpolation; bilinear needs two spatial axes.
    pub fn with_interpolation(
        name: impl Into<String>,
        size: Vec<usize>,
        interpolation: Interpolation,
    ) -> Result<UpSampling> {
        spatial_rank("UpSampling", size.len())?;
        if size.contains(&0) {
            return Err(Error::argument(
                "UpSampling",
                format!("size must be positive, got {size:?}"),
            ));
        }
        if interpolation != Interpolation::Nearest && size.len() != 2 {
            return Err(Error::argument(
                "UpSampling",
                format!(
                    "interpolation='{}' needs 2 spatial axes (UpSampling2D), got size {size:?}",
                    interpolation.name()
                ),
            ));
        }
        let core = LayerCore::new(name);
        core.set_built();
        Ok(UpSampling {
            core,
            size,
            interpolation,
        })
    }

    pub fn size(&self) -> &[usize] {
        &self.size
    }

    pub fn interpolation(&self) -> Interpolation {
        self.interpolation
    }
}

impl Layer for UpSampling {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn class_name(&self) -> &str {
        if self.size.len() == 1 {
            "UpSampling1D"
        } else {
            "UpSampling2D"
        }
    }

    /// Keras's `UpSampling1D` writes `size` alone, as an int; `UpSampling2D` a pair, the data
    /// format and the interpolation.
    fn config(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        use serde_json::json;
        if self.size.len() == 1 {
            return config_of([("size", json!(self.size[0]))]);
        }
        config_of([
            ("size", json!(self.size)),
            ("data_format", json!("channels_last")),
            ("interpolation", json!(self.interpolation.name())),
        ])
    }

    fn output_shapes(&self, input_shapes: &[Shape]) -> Result<Vec<Shape>> {
        let shape = single(self.name(), input_shapes)?;
        check_rank(self.name(), "UpSampling", self.size.len(), shape)?;
        let mut out = shape.clone();
        for (axis, &size) in self.size.iter().enumerate() {
            out[1 + axis] = shape[1 + axis].map(|d| d * size);
        }
        Ok(vec![out])
    }

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Vec<Tensor>> {
        let x = single(self.name(), inputs)?;
        self.output_shapes(&[known(&x.shape())])?;
        let shape = x.shape();
        if self.interpolation == Interpolation::Bilinear {
            if shape[1] == 0 || shape[2] == 0 {
                return Err(Error::Shape {
                    op: "UpSampling",
                    message: format!(
                        "layer '{}' cannot interpolate an empty image, got input shape {}",
                        self.name(),
                        format_shape(&known(&shape))
                    ),
                });
            }
            let size = [shape[1] * self.size[0], shape[2] * self.size[1]];
            return Ok(vec![x.resize_bilinear(size)?]);
        }
        let mut y = x.clone();
        for (axis, &size) in self.size.iter().enumerate() {
            if size == 1 {
                continue;
            }
            // A gather of [0, 0, .., 1, 1, ..]: its backward sums each repeat's gradient.
            let len = shape[1 + axis];
            let indices: Vec<i64> = (0..len as i64)
                .flat_map(|i| std::iter::repeat_n(i, size))
                .collect();
            let indices = ArrayD::from_shape_vec(ndarray::IxDyn(&[indices.len()]), indices)
                .expect("1-D indices");
            y = y.take(&indices, Some(1 + axis as isize))?;
        }
        Ok(vec![y])
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn global_average_pooling_1d_averages_the_unmasked_steps() {
        let layer = GlobalPooling::new("g", PoolMode::Average, 1, false).unwrap();
        let x = t32(&[2, 3, 1], &[1.0, 2.0, 6.0, 4.0, 5.0, 9.0]);
        let mask = t32(&[2, 3], &[1.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
        let y = layer
            .call_masked(std::slice::from_ref(&x), &[Some(mask)], false)
            .unwrap();
        assert_eq!(values(&y[0]), vec![3.5, 6.0]);
        assert!(layer
            .compute_mask(std::slice::from_ref(&x), &[None])
            .unwrap()
            .is_empty());
        let bad = t32(&[2, 2], &[1.0; 4]);
        let err = layer.call_masked(&[x], &[Some(bad)], false).unwrap_err();
        assert!(err.to_string().contains("(2, 3)"), "{err}");
    }

    fn ramp(shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        t32(shape, &(0..n).map(|i| i as f32).collect::<Vec<_>>())
    }

    #[test]
    fn pooling_1d_matches_2d_over_a_row() {
        let x = ramp(&[2, 5, 3]);
        let pool =
            Pooling::new("p", PoolMode::Average, &[2], Some(&[1]), PoolPadding::Valid).unwrap();
        assert_eq!(pool.class_name(), "AveragePooling1D");
        let y = pool
            .call(std::slice::from_ref(&x), false)
            .unwrap()
            .remove(0);
        assert_eq!(y.shape(), vec![2, 4, 3]);
        // Channel 0 of sample 0 is 0, 3, 6, 9, 12: pairwise means 1.5, 4.5, ...
        assert_eq!(values(&y)[0], 1.5);
        assert_eq!(values(&y)[3], 4.5);
        let err = Pooling::new("p", PoolMode::Max, &[6], None, PoolPadding::Valid)
            .unwrap()
            .call(&[x], false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("(2, 5, 3)") && err.contains("[6]"), "{err}");
    }

    #[test]
    fn shapes_follow_keras() {
        let same = Pooling::new(
            "p",
            PoolMode::Max,
            &[3, 3],
            Some(&[2, 2]),
            PoolPadding::Same,
        )
        .unwrap();
        assert_eq!(
            same.output_shapes(&[vec![None, Some(7), None, Some(4)]])
                .unwrap(),
            vec![vec![None, Some(4), None, Some(4)]]
        );
        assert!(same.output_shapes(&[vec![None, Some(7), Some(4)]]).is_err());
        let global = GlobalPooling::new("g", PoolMode::Average, 2, true).unwrap();
        assert_eq!(
            global
                .output_shapes(&[vec![None, Some(7), Some(5), Some(4)]])
                .unwrap(),
            vec![vec![None, Some(1), Some(1), Some(4)]]
        );
        let crop = Cropping::new("c", vec![(1, 1), (0, 2)]).unwrap();
        assert_eq!(
            crop.output_shapes(&[vec![None, Some(4), Some(5), Some(1)]])
                .unwrap(),
            vec![vec![None, Some(2), Some(3), Some(1)]]
        );
        assert!(crop
            .output_shapes(&[vec![None, Some(2), Some(5), Some(1)]])
            .is_err());
    }

    #[test]
    fn bilinear_upsampling_interpolates_between_half_pixel_centres() {
        // 1x2 image [0, 1], size (2, 3): output columns sample x = (o + 0.5) / 3 - 0.5, i.e.
        // -1/3 (clamped to 0), 0, 1/3, 2/3, 1, 4/3 (clamped to 1); both rows alike.
        let x = ramp(&[1, 1, 2, 1]);
        let up = UpSampling::with_interpolation("u", vec![2, 3], Interpolation::Bilinear).unwrap();
        assert_eq!(up.class_name(), "UpSampling2D");
        assert_eq!(up.interpolation().name(), "bilinear");
        assert_eq!(
            up.output_shapes(&[vec![None, Some(1), None, Some(1)]])
                .unwrap(),
            vec![vec![None, Some(2), None, Some(1)]]
        );
        let y = up.call(&[x], false).unwrap().remove(0);
        assert_eq!(y.shape(), vec![1, 2, 6, 1]);
        let row = [0.0, 0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0, 1.0];
        let expected: Vec<f64> = row.iter().chain(row.iter()).copied().collect();
        for (got, want) in values(&y).iter().zip(&expected) {
            assert!(
                (got - want).abs() < 1e-6,
                "{:?} vs {expected:?}",
                values(&y)
            );
        }
    }

    #[test]
    fn interpolation_names_and_rank_are_checked() {
        assert_eq!(
            Interpolation::parse("BILINEAR").unwrap(),
            Interpolation::Bilinear
        );
        let err = Interpolation::parse("bicubic").unwrap_err().to_string();
        assert!(
            err.contains("bicubic") && err.contains("nearest") && err.contains("bilinear"),
            "{err}"
        );
        let err = UpSampling::with_interpolation("u", vec![2], Interpolation::Bilinear)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("2 spatial axes"), "{err}");
    }

    #[test]
    fn padding_cropping_and_upsampling_values() {
        let x = ramp(&[1, 2, 1]);
        let padded = ZeroPadding::new("z", vec![(1, 2)]).unwrap();
        let y = padded.call(std::slice::from_ref(&x), false).unwrap();
        assert_eq!(values(&y[0]), vec![0.0, 0.0, 1.0, 0.0, 0.0]);
        let up = UpSampling::new("u", vec![3]).unwrap();
        let y = up.call(std::slice::from_ref(&x), false).unwrap();
        assert_eq!(values(&y[0]), vec![0.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        let crop = Cropping::new("c", vec![(1, 0)]).unwrap();
        assert_eq!(values(&crop.call(&[x], false).unwrap()[0]), vec![1.0]);
    }
}
