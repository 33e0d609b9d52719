//! Keras's convolution layers, channels last: `Conv1D`/`Conv2D` ([`Conv`]),
//! `DepthwiseConv1D`/`DepthwiseConv2D` ([`DepthwiseConv`]),
//! `SeparableConv1D`/`SeparableConv2D` ([`SeparableConv`]) and `Conv1DTranspose`/`Conv2DTranspose` ([`ConvTranspose`]), all over the engine's
//! [`Tensor::conv2d`] and [`Tensor::conv2d_transpose`] (a 1-D convolution is a 2-D one of
//! height 1).
//!
//! Weight layouts are Keras's: `Conv1D` kernel `(k, in / groups, filters)`, `Conv2D` kernel
//! `(kh, kw, in / groups, filters)`, `DepthwiseConv2D` kernel `(kh, kw, in, depth_multiplier)`,
//! `Conv2DTranspose` kernel `(kh, kw, filters, in)`; bias `(filters,)` (depthwise:
//! `(in · depth_multiplier,)`).
//!
//! ```
//! use ferrograd::nn::{build, Activation, Conv, Layer, Padding};
//! use ferrograd::{DType, Tensor};
//!
//! let conv = Conv::new("conv2d", 8, vec![3, 3], Activation::Relu);
//! build(&conv, &[vec![None, Some(28), Some(28), Some(1)]], DType::F32).unwrap();
//! let y = conv.call(&[Tensor::zeros(&[2, 28, 28, 1], DType::F32)], false).unwrap();
//! assert_eq!(y[0].shape(), vec![2, 26, 26, 8]); // "valid": 28 - 3 + 1
//! assert_eq!(conv.weights()[0].value.shape(), vec![3, 3, 1, 8]);
//! ```

use super::*;
use crate::ops::{conv_output_length, same_padding, Conv2dOptions, FusedActivation};

/// Keras's `padding` argument of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// No padding: the output shrinks by the dilated kernel size minus one.
    Valid,
    /// Zeros so that the output has `ceil(in / stride)` positions (Keras's split: the odd one after).
    Same,
    /// 1-D only: `(k - 1) · dilation` zeros before, none after, so output `t` sees inputs `≤ t`.
    Causal,
}

impl Padding {
    pub fn parse(name: &str) -> Result<Padding> {
        match name.to_ascii_lowercase().as_str() {
            "valid" => Ok(Padding::Valid),
            "same" => Ok(Padding::Same),
            "causal" => Ok(Padding::Causal),
            other => Err(Error::argument(
                "conv",
                format!("padding must be 'valid', 'same' or 'causal', got '{other}'"),
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Padding::Valid => "valid",
            Padding::Same => "same",
            Padding::Causal => "causal",
        }
    }

    /// The zeros `(before, after)` along one axis of size `input`.
    fn amounts(
        self,
        input: usize,
        kernel: usize,
        stride: usize,
        dilation: usize,
    ) -> (usize, usize) {
        match self {
            Padding::Valid => (0, 0),
            Padding::Same => same_padding(input, kernel, stride, dilation),
            Padding::Causal => ((kernel - 1) * dilation, 0),
        }
    }
}

/// What every convolution layer shares: the window's geometry and its checks.
#[derive(Debug, Clone)]
struct Window {
    /// 1 or 2 spatial axes.
    rank: usize,
    kernel_size: Vec<usize>,
    strides: Vec<usize>,
    padding: Padding,
    dilation_rate: Vec<usize>,
}

impl Window {
    fn new(
        op: &'static str,
        kernel_size: Vec<usize>,
        strides: Vec<usize>,
        padding: Padding,
        dilation_rate: Vec<usize>,
    ) -> Result<Window> {
        let rank = kernel_size.len();
        if !(1..=2).contains(&rank) || strides.len() != rank || dilation_rate.len() != rank {
            return Err(Error::argument(
                op,
                format!("kernel_size {kernel_size:?}, strides {strides:?} and dilation_rate {dilation_rate:?} must each have 1 or 2 entries, one per spatial axis"),
            ));
        }
        for (what, values) in [
            ("kernel_size", &kernel_size),
            ("strides", &strides),
            ("dilation_rate", &dilation_rate),
        ] {
            if values.contains(&0) {
                return Err(Error::argument(
                    op,
                    format!("{what} must be positive, got {values:?}"),
                ));
            }
        }
        if padding == Padding::Causal && rank != 1 {
            return Err(Error::argument(
                op,
                "padding='causal' is only for 1-D convolutions",
            ));
        }
        Ok(Window {
            rank,
            kernel_size,
            strides,
            padding,
            dilation_rate,
        })
    }

    /// Keras's config keys of the window, in Keras's order around `filters`/`depth_multiplier`.
    fn config_keys(&self) -> [(&'static str, serde_json::Value); 5] {
        use serde_json::json;
        [
            ("kernel_size", json!(self.kernel_size)),
            ("strides", json!(self.strides)),
            ("padding", json!(self.padding.name())),
            ("data_format", json!("channels_last")),
            ("dilation_rate", json!(self.dilation_rate)),
        ]
    }

    /// The input shape checked for rank (`batch, spatial..., channels`), and its channel count.
    fn channels(&self, op: &'static str, layer: &str, shape: &Shape) -> Result<usize> {
        if shape.len() != self.rank + 2 {
            return Err(Error::shape(
                op,
                format!(
                    "layer '{layer}' expects inputs of rank {} (batch, {}channels), got input shape {}",
                    self.rank + 2,
                    if self.rank == 1 { "steps, " } else { "height, width, " },
                    format_shape(shape)
                ),
            ));
        }
        shape[self.rank + 1].ok_or_else(|| {
            Error::shape(op, format!("layer '{layer}' needs the channels axis of its input to be known, got input shape {}", format_shape(shape)))
        })
    }

    /// The output's spatial sizes (None stays None), or a clear error when the kernel does not fit.
    fn output_spatial(
        &self,
        op: &'static str,
        layer: &str,
        shape: &Shape,
    ) -> Result<Vec<Option<usize>>> {
        (0..self.rank)
            .map(|a| match shape[1 + a] {
                None => Ok(None),
                Some(input) => {
                    let (k, s, d) = (self.kernel_size[a], self.strides[a], self.dilation_rate[a]);
                    let pads = self.padding.amounts(input, k, s, d);
                    conv_output_length(input, k, s, d, pads).map(Some).ok_or_else(|| {
                        Error::shape(
                            op,
                            format!(
                                "layer '{layer}': kernel_size {:?} with dilation_rate {:?} (span {}) is larger than the input along spatial axis {a} (size {input}, padding '{}'), input shape {}",
                                self.kernel_size,
                                self.dilation_rate,
                                (k - 1) * d + 1,
                                self.padding.name(),
                                format_shape(shape)
                            ),
                        )
                    })
                }
            })
            .collect()
    }

    /// The engine's options for a concrete input of spatial sizes `spatial`, as a 2-D conv.
    fn options(&self, spatial: &[usize], groups: usize) -> Conv2dOptions {
        let pad = |a: usize| {
            self.padding.amounts(
                spatial[a],
                self.kernel_size[a],
                self.strides[a],
                self.dilation_rate[a],
            )
        };
        if self.rank == 1 {
            Conv2dOptions {
                strides: [1, self.strides[0]],
                dilation: [1, self.dilation_rate[0]],
                padding: [(0, 0), pad(0)],
                groups,
            }
        } else {
            Conv2dOptions {
                strides: [self.strides[0], self.strides[1]],
                dilation: [self.dilation_rate[0], self.dilation_rate[1]],
                padding: [pad(0), pad(1)],
                groups,
            }
        }
    }

    /// Runs `x` (rank + 2) through a 2-D convolution with a `(…, in/groups, filters)` kernel of
    /// this window's rank: 1-D inputs and kernels gain a unit height axis and lose it after.
    fn convolve(
        &self,
        x: &Tensor,
        kernel: &Tensor,
        bias: Option<&Tensor>,
        groups: usize,
        activation: Activation,
    ) -> Result<Tensor> {
        let xs = x.shape();
        let options = self.options(&xs[1..1 + self.rank], groups);
        // One fused op when the activation's derivative comes from the output alone.
        let fused = match activation {
            Activation::Linear => Some(FusedActivation::Linear),
            Activation::Relu => Some(FusedActivation::Relu),
            Activation::Sigmoid => Some(FusedActivation::Sigmoid),
            Activation::Tanh => Some(FusedActivation::Tanh),
            _ => None,
        };
        let op_activation = fused.unwrap_or(FusedActivation::Linear);
        let y = if self.rank == 2 {
            x.conv2d_fused(kernel, bias, &options, op_activation)?
        } else {
            let ks = kernel.shape();
            let x4 = x.reshape(&[xs[0] as isize, 1, xs[1] as isize, xs[2] as isize])?;
            let k4 = kernel.reshape(&[1, ks[0] as isize, ks[1] as isize, ks[2] as isize])?;
            let y = x4.conv2d_fused(&k4, bias, &options, op_activation)?;
            let ys = y.shape();
            y.reshape(&[ys[0] as isize, ys[2] as isize, ys[3] as isize])?
        };
        match fused {
            Some(_) => Ok(y),
            None => activation.apply(&y),
        }
    }
}

fn check_rank(
    op: &'static str,
    layer: &str,
    window: &Window,
    x: &Tensor,
    channels: usize,
) -> Result<()> {
    let shape = known(&x.shape());
    let got = window.channels(op, layer, &shape)?;
    if got != channels {
        return Err(Error::shape(
            op,
            format!(
                "layer '{layer}' was built for inputs with {channels} channels, got input shape {}",
                format_shape(&shape)
            ),
        ));
    }
    window.output_spatial(op, layer, &shape)?;
    Ok(())
}

pub(crate) const CLASSES: &[LayerClass] = &[
    LayerClass {
        name: "Conv1D",
        make: |c, _| Ok(Made::plain(Conv::from_config(c)?)),
    },
    LayerClass {
        name: "Conv2D",
        make: |c, _| Ok(Made::plain(Conv::from_config(c)?)),
    },
    LayerClass {
        name: "DepthwiseConv1D",
        make: |c, _| Ok(Made::plain(DepthwiseConv::from_config(c)?)),
    },
    LayerClass {
        name: "DepthwiseConv2D",
        make: |c, _| Ok(Made::plain(DepthwiseConv::from_config(c)?)),
    },
    LayerClass {
        name: "Conv1DTranspose",
        make: |c, _| Ok(Made::plain(ConvTranspose::from_config(c)?)),
    },
    LayerClass {
        name: "Conv2DTranspose",
        make: |c, _| Ok(Made::plain(ConvTranspose::from_config(c)?)),
    },
    LayerClass {
        name: "SeparableConv1D",
        make: |c, _| Ok(Made::plain(SeparableConv::from_config(c)?)),
    },
    LayerClass {
        name: "SeparableConv2D",
        make: |c, _| Ok(Made::plain(SeparableConv::from_config(c)?)),
    },
];

/// Keras's `Conv1D` and `Conv2D` (by the length of `kernel_size`), with `groups`.
pub struct Conv {
    core: LayerCore,
    filters: usize,
    window: Window,
    groups: usize,
    activation: Activation,
    use_bias: bool,
    /// Initializers and regularizers for native building (the Python front end creates the
    /// weights itself with Keras's initializer objects).
    pub kernel_initializer: Initializer,
    pub bias_initializer: Initializer,
    pub kernel_regularizer: Option<Regularizer>,
    pub bias_regularizer: Option<Regularizer>,
}

impl Conv {
    /// Keras's `Conv1D`/`Conv2D` config: `filters`, `kernel_size`, `strides` (1), `padding`
    /// ("valid"), `dilation_rate` (1), `groups` (1), `activation` (linear), `use_bias` (true),
    /// the regularizers (none); channels_last only.
    pub fn from_config(c: &Config<'_>) -> Result<Conv> {
        registry::channels_last(c)?;
        let r = registry::spatial_rank(c);
        let mut conv = Conv::with_options(
            c.required_name()?,
            c.positive("filters")?,
            c.tuple("kernel_size", r, None)?,
            c.tuple("strides", r, Some(1))?,
            Padding::parse(c.str_or("padding", "valid")?)?,
            c.tuple("dilation_rate", r, Some(1))?,
            c.usize_or("groups", 1)?,
            Activation::read(c, "activation", "linear")?,
            c.bool_or("use_bias", true)?,
        )?;
        conv.kernel_regularizer = c.object("kernel_regularizer")?;
        conv.bias_regularizer = c.object("bias_regularizer")?;
        Ok(conv)
    }

    /// A convolution with Keras's defaults: strides 1, "valid", no dilation, one group, a bias,
    /// Glorot-uniform kernel, zero bias. `kernel_size` has one entry per spatial axis.
    pub fn new(
        name: impl Into<String>,
        filters: usize,
        kernel_size: Vec<usize>,
        activation: Activation,
    ) -> Conv {
        let rank = kernel_size.len();
        Conv::with_options(
            name,
            filters,
            kernel_size,
            vec![1; rank],
            Padding::Valid,
            vec![1; rank],
            1,
            activation,
            true,
        )
        .expect("valid defaults")
    }

    /// A convolution with every option of Keras's constructor.
    #[allow(clippy::too_many_arguments)]
    pub fn with_options(
        name: impl Into<String>,
        filters: usize,
        kernel_size: Vec<usize>,
        strides: Vec<usize>,
        padding: Padding,
        dilation_rate: Vec<usize>,
        groups: usize,
        activation: Activation,
        use_bias: bool,
    ) -> Result<Conv> {
        let window = Window::new("conv", kernel_size, strides, padding, dilation_rate)?;
        if filters == 0 || groups == 0 || filters % groups != 0 {
            return Err(Error::argument(
                "conv",
                format!("filters ({filters}) must be a positive multiple of groups ({groups})"),
            ));
        }
        Ok(Conv {
            core: LayerCore::new(name),
            filters,
            window,
            groups,
            activation,
            use_bias,
            kernel_initializer: Initializer::named("glorot_uniform").expect("known initializer"),
            bias_initializer: Initializer::Zeros,
            kernel_regularizer: None,
            bias_regularizer: None,
        })
    }

    fn op(&self) -> &'static str {
        if self.window.rank == 1 {
            "Conv1D"
        } else {
            "Conv2D"
        }
    }

    fn in_channels(&self, shape: &Shape) -> Result<usize> {
        let channels = self.window.channels(self.op(), self.name(), shape)?;
        if channels % self.groups != 0 {
            return Err(Error::shape(
                self.op(),
                format!(
                    "layer '{}': the number of input channels ({channels}) must be a multiple of groups ({}), got input shape {}",
                    self.name(),
                    self.groups,
                    format_shape(shape)
                ),
            ));
        }
        Ok(channels)
    }
}

/// A convolution's Keras config: its own leading keys (`filters`, `depth_multiplier`), the
/// window's keys, `activation` and `use_bias`, then its own trailing keys (regularizers, ...);
/// `None` when the activation has no Keras name.
fn conv_config(
    leading: impl IntoIterator<Item = (&'static str, serde_json::Value)>,
    window: &Window,
    activation: Activation,
    use_bias: bool,
    trailing: impl IntoIterator<Item = (&'static str, serde_json::Value)>,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    use serde_json::json;
    let activation = activation.keras_name()?;
    let mut config = config_of(leading)?;
    config.extend(window.config_keys().map(|(k, v)| (k.to_string(), v)));
    config.extend(config_of([
        ("activation", json!(activation)),
        ("use_bias", json!(use_bias)),
    ])?);
    config.extend(config_of(trailing)?);
    Some(config)
}

impl Layer for Conv {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn class_name(&self) -> &str {
        self.op()
    }

    fn config(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        use serde_json::json;
        conv_config(
            [("filters", json!(self.filters))],
            &self.window,
            self.activation,
            self.use_bias,
            [
                ("groups", json!(self.groups)),
                (
                    "kernel_regularizer",
                    crate::regularizers::to_config(self.kernel_regularizer),
                ),
                (
                    "bias_regularizer",
                    crate::regularizers::to_config(self.bias_regularizer),
                ),
            ],
        )
    }

    fn weight_specs(&self, input_shapes: &[Shape]) -> Result<Vec<WeightSpec>> {
        let channels = self.in_channels(single(self.name(), input_shapes)?)?;
        let mut shape = self.window.kernel_size.clone();
        shape.extend([channels / self.groups, self.filters]);
        let mut specs = vec![WeightSpec {
            name: "kernel",
            shape,
            initializer: self.kernel_initializer,
            trainable: true,
            regularizer: self.kernel_regularizer,
        }];
        if self.use_bias {
            specs.push(WeightSpec {
                name: "bias",
                shape: vec![self.filters],
                initializer: self.bias_initializer,
                trainable: true,
                regularizer: self.bias_regularizer,
            });
        }
        Ok(specs)
    }

    fn output_shapes(&self, input_shapes: &[Shape]) -> Result<Vec<Shape>> {
        let shape = single(self.name(), input_shapes)?;
        let channels = self.in_channels(shape)?;
        if let Some(kernel) = self.core.weight("kernel") {
            let built = kernel.shape()[self.window.rank] * self.groups;
            if built != channels {
                return Err(Error::shape(
                    self.op(),
                    format!(
                        "layer '{}' was built for inputs with {built} channels, got input shape {}",
                        self.name(),
                        format_shape(shape)
                    ),
                ));
            }
        }
        let mut out = vec![shape[0]];
        out.extend(self.window.output_spatial(self.op(), self.name(), shape)?);
        out.push(Some(self.filters));
        Ok(vec![out])
    }

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Vec<Tensor>> {
        let x = single(self.name(), inputs)?;
        self.core.require_built()?;
        let kernel = self.core.weight("kernel").expect("built Conv has a kernel");
        let channels = kernel.shape()[self.window.rank] * self.groups;
        check_rank(self.op(), self.name(), &self.window, x, channels)?;
        let bias = self.core.weight("bias");
        let y = self
            .window
            .convolve(x, &kernel, bias.as_ref(), self.groups, self.activation)?;
        Ok(vec![y])
    }
}

/// Keras's `DepthwiseConv2D` (and its 1-D form): each input channel convolved with its own
/// `depth_multiplier` filters; output channel `c · depth_multiplier + m`. It is a grouped
/// convolution with one group per channel, whose kernel `(…, in, m)` is read as `(…, 1, in · m)`.
pub struct DepthwiseConv {
    core: LayerCore,
    depth_multiplier: usize,
    window: Window,
    activation: Activation,
    use_bias: bool,
    pub depthwise_initializer: Initializer,
    pub bias_initializer: Initializer,
    pub depthwise_regularizer: Option<Regularizer>,
    pub bias_regularizer: Option<Regularizer>,
}

impl DepthwiseConv {
    /// Keras's `DepthwiseConv1D`/`DepthwiseConv2D` config: `depth_multiplier` (1),
    /// `kernel_size`, `strides`, `padding`, `dilation_rate`, `activation`, `use_bias`, the
    /// regularizers, as [`Conv::from_config`].
    pub fn from_config(c: &Config<'_>) -> Result<DepthwiseConv> {
        registry::channels_last(c)?;
        let r = registry::spatial_rank(c);
        let mut conv = DepthwiseConv::new(
            c.required_name()?,
            c.usize_or("depth_multiplier", 1)?,
            c.tuple("kernel_size", r, None)?,
            c.tuple("strides", r, Some(1))?,
            Padding::parse(c.str_or("padding", "valid")?)?,
            c.tuple("dilation_rate", r, Some(1))?,
            Activation::read(c, "activation", "linear")?,
            c.bool_or("use_bias", true)?,
        )?;
        conv.depthwise_regularizer = c.object("depthwise_regularizer")?;
        conv.bias_regularizer = c.object("bias_regularizer")?;
        Ok(conv)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: impl Into<String>,
        depth_multiplier: usize,
        kernel_size: Vec<usize>,
        strides: Vec<usize>,
        padding: Padding,
        dilation_rate: Vec<usize>,
        activation: Activation,
        use_bias: bool,
    ) -> Result<DepthwiseConv> {
        let window = Window::new(
            "DepthwiseConv",
            kernel_size,
            strides,
            padding,
            dilation_rate,
        )?;
        if depth_multiplier == 0 {
            return Err(Error::argument(
                "DepthwiseConv",
                "depth_multiplier must be positive",
            ));
        }
        Ok(DepthwiseConv {
            core: LayerCore::new(name),
            depth_multiplier,
            window,
            activation,
            use_bias,
            depthwise_initializer: Initializer::named("glorot_uniform").expect("known initializer"),
            bias_initializer: Initializer::Zeros,
            depthwise_regularizer: None,
            bias_regularizer: None,
        })
    }

    fn op(&self) -> &'static str {
        if self.window.rank == 1 {
            "DepthwiseConv1D"
        } else {
            "DepthwiseConv2D"
        }
    }
}

impl Layer for DepthwiseConv {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn class_name(&self) -> &str {
        self.op()
    }

    fn config(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        use serde_json::json;
        conv_config(
            [("depth_multiplier", json!(self.depth_multiplier))],
            &self.window,
            self.activation,
            self.use_bias,
            [
                (
                    "depthwise_regularizer",
                    crate::regularizers::to_config(self.depthwise_regularizer),
                ),
                (
                    "bias_regularizer",
                    crate::regularizers::to_config(self.bias_regularizer),
                ),
            ],
        )
    }

    fn weight_specs(&self, input_shapes: &[Shape]) -> Result<Vec<WeightSpec>> {
        let channels =
            self.window
                .channels(self.op(), self.name(), single(self.name(), input_shapes)?)?;
        let mut shape = self.window.kernel_size.clone();
        shape.extend([channels, self.depth_multiplier]);
        let mut specs = vec![WeightSpec {
            name: "kernel",
            shape,
            initializer: self.depthwise_initializer,
            trainable: true,
            regularizer: self.depthwise_regularizer,
        }];
        if self.use_bias {
            specs.push(WeightSpec {
                name: "bias",
                shape: vec![channels * self.depth_multiplier],
                initializer: self.bias_initializer,
                trainable: true,
                regularizer: self.bias_regularizer,
            });
        }
        Ok(specs)
    }

    fn output_shapes(&self, input_shapes: &[Shape]) -> Result<Vec<Shape>> {
        let shape = single(self.name(), input_shapes)?;
        let channels = self.window.channels(self.op(), self.name(), shape)?;
        if let Some(kernel) = self.core.weight("kernel") {
            let built = kernel.shape()[self.window.rank];
            if built != channels {
                return Err(Error::shape(
                    self.op(),
                    format!(
                        "layer '{}' was built for inputs with {built} channels, got input shape {}",
                        self.name(),
                        format_shape(shape)
                    ),
                ));
            }
        }
        let mut out = vec![shape[0]];
        out.extend(self.window.output_spatial(self.op(), self.name(), shape)?);
        out.push(Some(channels * self.depth_multiplier));
        Ok(vec![out])
    }

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Vec<Tensor>> {
        let x = single(self.name(), inputs)?;
        self.core.require_built()?;
        let kernel = self
            .core
            .weight("kernel")
            .expect("built DepthwiseConv has a kernel");
        let ks = kernel.shape();
        let channels = ks[self.window.rank];
        check_rank(self.op(), self.name(), &self.window, x, channels)?;
        // (…, in, m) → (…, 1, in · m): output channel c · m + j is group c's filter j.
        let mut grouped: Vec<isize> = ks[..self.window.rank].iter().map(|&d| d as isize).collect();
        grouped.extend([1, (channels * self.depth_multiplier) as isize]);
        let kernel = kernel.reshape(&grouped)?;
        let bias = self.core.weight("bias");
        let y = self
            .window
            .convolve(x, &kernel, bias.as_ref(), channels, self.activation)?;
        Ok(vec![y])
    }
}

/// Keras's `Conv1DTranspose` and `Conv2DTranspose`: the transpose (input gradient) of a
/// convolution, kernel `(*kernel_size, filters, in)`. Output length per axis, with the dilated
/// kernel span `k'` (Keras's `compute_conv_transpose_output_shape`):
/// - without `output_padding`: `in · stride + max(k' - stride, 0)` for "valid", `in · stride`
///   for "same";
/// - with `output_padding` `p` (`p < stride`): `(in - 1) · stride + k' + p` for "valid",
///   `(in - 1) · stride + k' % 2 + p` for "same" (`k' - 2 · (k' / 2)`).
///
/// Every input pixel spreads `x · kernel` onto outputs `i · stride + tap · dilation - crop`,
/// with `crop = k' - 1 - left_pad` and Keras's `left_pad` (its JAX rule, which its torch
/// backend reproduces by cropping): 0 for "valid"; for "same"
/// `min(ceil(pad_len / 2), k' - 1)` with `pad_len = stride + k' - 2` (no `output_padding`) or
/// `k' + k' % 2 - 2 + p`. Output positions no tap reaches (the extra `p` of "valid") hold only
/// the bias.
pub struct ConvTranspose {
    core: LayerCore,
    filters: usize,
    window: Window,
    /// Keras's `output_padding`, one value per spatial axis, each below its stride.
    output_padding: Option<Vec<usize>>,
    activation: Activation,
    use_bias: bool,
    pub kernel_initializer: Initializer,
    pub bias_initializer: Initializer,
    pub kernel_regularizer: Option<Regularizer>,
    pub bias_regularizer: Option<Regularizer>,
}

impl ConvTranspose {
    /// Keras's `Conv1DTranspose`/`Conv2DTranspose` config: as [`Conv::from_config`] without
    /// `groups`, plus `output_padding` (none).
    pub fn from_config(c: &Config<'_>) -> Result<ConvTranspose> {
        registry::channels_last(c)?;
        let r = registry::spatial_rank(c);
        let output_padding = match c.has("output_padding") {
            true => Some(c.tuple("output_padding", r, None)?),
            false => None,
        };
        let mut conv = ConvTranspose::new(
            c.required_name()?,
            c.positive("filters")?,
            c.tuple("kernel_size", r, None)?,
            c.tuple("strides", r, Some(1))?,
            Padding::parse(c.str_or("padding", "valid")?)?,
            c.tuple("dilation_rate", r, Some(1))?,
            Activation::read(c, "activation", "linear")?,
            c.bool_or("use_bias", true)?,
        )?
        .with_output_padding(output_padding)?;
        conv.kernel_regularizer = c.object("kernel_regularizer")?;
        conv.bias_regularizer = c.object("bias_regularizer")?;
        Ok(conv)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: impl Into<String>,
        filters: usize,
        kernel_size: Vec<usize>,
        strides: Vec<usize>,
        padding: Padding,
        dilation_rate: Vec<usize>,
        activation: Activation,
        use_bias: bool,
    ) -> Result<ConvTranspose> {
        let window = Window::new(
            "ConvTranspose",
            kernel_size,
            strides,
            padding,
            dilation_rate,
        )?;
        if padding == Padding::Causal {
            return Err(Error::argument(
                "ConvTranspose",
                "padding must be 'valid' or 'same', got 'causal'",
            ));
        }
        if filters == 0 {
            return Err(Error::argument("ConvTranspose", "filters must be positive"));
        }
        Ok(ConvTranspose {
            core: LayerCore::new(name),
            filters,
            window,
            output_padding: None,
            activation,
            use_bias,
            kernel_initializer: Initializer::named("glorot_uniform").expect("known initializer"),
            bias_initializer: Initializer::Zeros,
            kernel_regularizer: None,
            bias_regularizer: None,
        })
    }

    fn op(&self) -> &'static str {
        if self.window.rank == 1 {
            "Conv1DTranspose"
        } else {
            "Conv2DTranspose"
        }
    }

    /// Sets Keras's `output_padding` (`None`: inferred, Keras's default): one value per
    /// spatial axis, each smaller than that axis's stride, as Keras requires (a larger one
    /// would add outputs that no input reaches beyond one stride).
    pub fn with_output_padding(mut self, output_padding: Option<Vec<usize>>) -> Result<Self> {
        if let Some(padding) = &output_padding {
            let strides = &self.window.strides;
            if padding.len() != self.window.rank {
                return Err(Error::argument(
                    self.op(),
                    format!(
                        "output_padding needs {} value(s), one per spatial axis, got {padding:?}",
                        self.window.rank
                    ),
                ));
            }
            if padding.iter().zip(strides).any(|(p, s)| p >= s) {
                return Err(Error::argument(
                    self.op(),
                    format!(
                        "`output_padding` must be < `strides`. output_padding={padding:?}, \
                         strides={strides:?}"
                    ),
                ));
            }
        }
        self.output_padding = output_padding;
        Ok(self)
    }

    pub fn output_padding(&self) -> Option<&[usize]> {
        self.output_padding.as_deref()
    }

    /// The dilated kernel span `k'` and the stride of spatial axis `axis`.
    fn span_and_stride(&self, axis: usize) -> (usize, usize) {
        let w = &self.window;
        (
            (w.kernel_size[axis] - 1) * w.dilation_rate[axis] + 1,
            w.strides[axis],
        )
    }

    /// Keras's output length of one axis (`_get_output_shape_given_tf_padding`); 0 when
    /// "same" with an even span, no `output_padding` of that axis and a single input step.
    fn output_length(&self, axis: usize, input: usize) -> usize {
        let (span, stride) = self.span_and_stride(axis);
        let same = self.window.padding == Padding::Same;
        match (self.output_padding.as_ref().map(|p| p[axis]), same) {
            (None, true) => input * stride,
            (None, false) => input * stride + span.saturating_sub(stride),
            (Some(extra), true) => (input.max(1) - 1) * stride + span % 2 + extra,
            (Some(extra), false) => (input.max(1) - 1) * stride + span + extra,
        }
    }

    /// The zeros `(before, after)` of the convolution this layer transposes, along one axis:
    /// its input is our output (`output` long) and its output our input (`input` long).
    /// `before` is the crop `k' - 1 - left_pad` (see the type's doc); `after` is the least
    /// padding that still gives `input` windows (the convolution ignores any leftover tail, the
    /// `output_padding` positions).
    fn conv_padding(&self, axis: usize, input: usize, output: usize) -> (usize, usize) {
        let (span, stride) = self.span_and_stride(axis);
        let left_pad = match self.window.padding {
            Padding::Same => {
                let pad_len = match &self.output_padding {
                    None => stride + span - 2,
                    Some(extra) => span + span % 2 - 2 + extra[axis],
                };
                pad_len.div_ceil(2).min(span - 1)
            }
            _ => span - 1,
        };
        let before = span - 1 - left_pad;
        let reach = (input.max(1) - 1) * stride + span;
        (before, reach.saturating_sub(output + before))
    }

    /// The engine's options for an input of spatial sizes `input` and output sizes `output`.
    fn options(&self, input: &[usize], output: &[usize]) -> Conv2dOptions {
        let w = &self.window;
        let pad = |a: usize| self.conv_padding(a, input[a], output[a]);
        if w.rank == 1 {
            Conv2dOptions {
                strides: [1, w.strides[0]],
                dilation: [1, w.dilation_rate[0]],
                padding: [(0, 0), pad(0)],
                groups: 1,
            }
        } else {
            Conv2dOptions {
                strides: [w.strides[0], w.strides[1]],
                dilation: [w.dilation_rate[0], w.dilation_rate[1]],
                padding: [pad(0), pad(1)],
                groups: 1,
            }
        }
    }
}

impl Layer for ConvTranspose {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn class_name(&self) -> &str {
        self.op()
    }

    fn config(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        use serde_json::json;
        conv_config(
            [("filters", json!(self.filters))],
            &self.window,
            self.activation,
            self.use_bias,
            [
                ("output_padding", json!(self.output_padding)),
                (
                    "kernel_regularizer",
                    crate::regularizers::to_config(self.kernel_regularizer),
                ),
                (
                    "bias_regularizer",
                    crate::regularizers::to_config(self.bias_regularizer),
                ),
            ],
        )
    }

    fn weight_specs(&self, input_shapes: &[Shape]) -> Result<Vec<WeightSpec>> {
        let channels =
            self.window
                .channels(self.op(), self.name(), single(self.name(), input_shapes)?)?;
        let mut shape = self.window.kernel_size.clone();
        shape.extend([self.filters, channels]);
        let mut specs = vec![WeightSpec {
            name: "kernel",
            shape,
            initializer: self.kernel_initializer,
            trainable: true,
            regularizer: self.kernel_regularizer,
        }];
        if self.use_bias {
            specs.push(WeightSpec {
                name: "bias",
                shape: vec![self.filters],
                initializer: self.bias_initializer,
                trainable: true,
                regularizer: self.bias_regularizer,
            });
        }
        Ok(specs)
    }

    fn output_shapes(&self, input_shapes: &[Shape]) -> Result<Vec<Shape>> {
        let shape = single(self.name(), input_shapes)?;
        let channels = self.window.channels(self.op(), self.name(), shape)?;
        if let Some(kernel) = self.core.weight("kernel") {
            let built = kernel.shape()[self.window.rank + 1];
            if built != channels {
                return Err(Error::shape(
                    self.op(),
                    format!(
                        "layer '{}' was built for inputs with {built} channels, got input shape {}",
                        self.name(),
                        format_shape(shape)
                    ),
                ));
            }
        }
        let mut out = vec![shape[0]];
        for axis in 0..self.window.rank {
            let length = shape[1 + axis].map(|d| self.output_length(axis, d));
            if length == Some(0) || shape[1 + axis] == Some(0) {
                return Err(Error::shape(
                    self.op(),
                    format!(
                        "layer '{}' (kernel_size {:?}, strides {:?}, padding '{}', \
                         output_padding {}) has an empty input or output along spatial axis \
                         {axis} for input shape {}",
                        self.name(),
                        self.window.kernel_size,
                        self.window.strides,
                        self.window.padding.name(),
                        self.output_padding
                            .as_ref()
                            .map_or("None".to_string(), |p| format!("{p:?}")),
                        format_shape(shape)
                    ),
                ));
            }
            out.push(length);
        }
        out.push(Some(self.filters));
        Ok(vec![out])
    }

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Vec<Tensor>> {
        let x = single(self.name(), inputs)?;
        self.core.require_built()?;
        let kernel = self
            .core
            .weight("kernel")
            .expect("built ConvTranspose has a kernel");
        let channels = kernel.shape()[self.window.rank + 1];
        self.output_shapes(&[known(&x.shape())])?;
        if x.shape()[self.window.rank + 1] != channels {
            return Err(Error::shape(
                self.op(),
                format!("layer '{}' expects {channels} input channels", self.name()),
            ));
        }
        let xs = x.shape();
        let rank = self.window.rank;
        let out: Vec<usize> = (0..rank)
            .map(|a| self.output_length(a, xs[1 + a]))
            .collect();
        let options = self.options(&xs[1..1 + rank], &out);
        let bias = self.core.weight("bias");
        let y = if rank == 2 {
            x.conv2d_transpose(&kernel, bias.as_ref(), [out[0], out[1]], &options)?
        } else {
            let ks = kernel.shape();
            let x4 = x.reshape(&[xs[0] as isize, 1, xs[1] as isize, xs[2] as isize])?;
            let k4 = kernel.reshape(&[1, ks[0] as isize, ks[1] as isize, ks[2] as isize])?;
            let y = x4.conv2d_transpose(&k4, bias.as_ref(), [1, out[0]], &options)?;
            y.reshape(&[xs[0] as isize, out[0] as isize, self.filters as isize])?
        };
        Ok(vec![self.activation.apply(&y)?])
    }
}

/// Keras's `SeparableConv1D`/`SeparableConv2D`: a depthwise convolution (`depth_multiplier`
/// filters per channel, no bias) followed by a pointwise (1×1) one to `filters` channels, then
/// the bias and the activation. Weights: `depthwise_kernel` `(*kernel_size, in, multiplier)`,
/// `pointwise_kernel` `(*ones, in · multiplier, filters)`, `bias` `(filters,)`.
pub struct SeparableConv {
    core: LayerCore,
    filters: usize,
    depth_multiplier: usize,
    window: Window,
    activation: Activation,
    use_bias: bool,
    pub depthwise_initializer: Initializer,
    pub pointwise_initializer: Initializer,
    pub bias_initializer: Initializer,
    pub depthwise_regularizer: Option<Regularizer>,
    pub pointwise_regularizer: Option<Regularizer>,
    pub bias_regularizer: Option<Regularizer>,
}

impl SeparableConv {
    /// Keras's `SeparableConv1D`/`SeparableConv2D` config: `filters`, `depth_multiplier` (1),
    /// and the rest as [`Conv::from_config`] without `groups`, with depthwise, pointwise and
    /// bias regularizers.
    pub fn from_config(c: &Config<'_>) -> Result<SeparableConv> {
        registry::channels_last(c)?;
        let r = registry::spatial_rank(c);
        let mut conv = SeparableConv::new(
            c.required_name()?,
            c.positive("filters")?,
            c.usize_or("depth_multiplier", 1)?,
            c.tuple("kernel_size", r, None)?,
            c.tuple("strides", r, Some(1))?,
            Padding::parse(c.str_or("padding", "valid")?)?,
            c.tuple("dilation_rate", r, Some(1))?,
            Activation::read(c, "activation", "linear")?,
            c.bool_or("use_bias", true)?,
        )?;
        conv.depthwise_regularizer = c.object("depthwise_regularizer")?;
        conv.pointwise_regularizer = c.object("pointwise_regularizer")?;
        conv.bias_regularizer = c.object("bias_regularizer")?;
        Ok(conv)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: impl Into<String>,
        filters: usize,
        depth_multiplier: usize,
        kernel_size: Vec<usize>,
        strides: Vec<usize>,
        padding: Padding,
        dilation_rate: Vec<usize>,
        activation: Activation,
        use_bias: bool,
    ) -> Result<SeparableConv> {
        let window = Window::new(
            "SeparableConv",
            kernel_size,
            strides,
            padding,
            dilation_rate,
        )?;
        if filters == 0 || depth_multiplier == 0 {
            return Err(Error::argument(
                "SeparableConv",
                "filters and depth_multiplier must be positive",
            ));
        }
        let glorot = Initializer::named("glorot_uniform").expect("known initializer");
        Ok(SeparableConv {
            core: LayerCore::new(name),
            filters,
            depth_multiplier,
            window,
            activation,
            use_bias,
            depthwise_initializer: glorot,
            pointwise_initializer: glorot,
            bias_initializer: Initializer::Zeros,
            depthwise_regularizer: None,
            pointwise_regularizer: None,
            bias_regularizer: None,
        })
    }

    fn op(&self) -> &'static str {
        if self.window.rank == 1 {
            "SeparableConv1D"
        } else {
            "SeparableConv2D"
        }
    }
}

impl Layer for SeparableConv {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn class_name(&self) -> &str {
        self.op()
    }

    fn config(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        use serde_json::json;
        conv_config(
            [
                ("filters", json!(self.filters)),
                ("depth_multiplier", json!(self.depth_multiplier)),
            ],
            &self.window,
            self.activation,
            self.use_bias,
            [
                (
                    "depthwise_regularizer",
                    crate::regularizers::to_config(self.depthwise_regularizer),
                ),
                (
                    "pointwise_regularizer",
                    crate::regularizers::to_config(self.pointwise_regularizer),
                ),
                (
                    "bias_regularizer",
                    crate::regularizers::to_config(self.bias_regularizer),
                ),
            ],
        )
    }

    fn weight_specs(&self, input_shapes: &[Shape]) -> Result<Vec<WeightSpec>> {
        let channels =
            self.window
                .channels(self.op(), self.name(), single(self.name(), input_shapes)?)?;
        let mut depthwise = self.window.kernel_size.clone();
        depthwise.extend([channels, self.depth_multiplier]);
        let mut pointwise = vec![1; self.window.rank];
        pointwise.extend([channels * self.depth_multiplier, self.filters]);
        let mut specs = vec![
            WeightSpec {
                name: "depthwise_kernel",
                shape: depthwise,
                initializer: self.depthwise_initializer,
                trainable: true,
                regularizer: self.depthwise_regularizer,
            },
            WeightSpec {
                name: "pointwise_kernel",
                shape: pointwise,
                initializer: self.pointwise_initializer,
                trainable: true,
                regularizer: self.pointwise_regularizer,
            },
        ];
        if self.use_bias {
            specs.push(WeightSpec {
                name: "bias",
                shape: vec![self.filters],
                initializer: self.bias_initializer,
                trainable: true,
                regularizer: self.bias_regularizer,
            });
        }
        Ok(specs)
    }

    fn output_shapes(&self, input_shapes: &[Shape]) -> Result<Vec<Shape>> {
        let shape = single(self.name(), input_shapes)?;
        let channels = self.window.channels(self.op(), self.name(), shape)?;
        if let Some(kernel) = self.core.weight("depthwise_kernel") {
            let built = kernel.shape()[self.window.rank];
            if built != channels {
                return Err(Error::shape(
                    self.op(),
                    format!(
                        "layer '{}' was built for inputs with {built} channels, got input shape {}",
                        self.name(),
                        format_shape(shape)
                    ),
                ));
            }
        }
        let mut out = vec![shape[0]];
        out.extend(self.window.output_spatial(self.op(), self.name(), shape)?);
        out.push(Some(self.filters));
        Ok(vec![out])
    }

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Vec<Tensor>> {
        let x = single(self.name(), inputs)?;
        self.core.require_built()?;
        let depthwise = self
            .core
            .weight("depthwise_kernel")
            .expect("built SeparableConv has a depthwise kernel");
        let pointwise = self
            .core
            .weight("pointwise_kernel")
            .expect("built SeparableConv has a pointwise kernel");
        let ks = depthwise.shape();
        let rank = self.window.rank;
        let channels = ks[rank];
        check_rank(self.op(), self.name(), &self.window, x, channels)?;
        let mut grouped: Vec<isize> = ks[..rank].iter().map(|&d| d as isize).collect();
        grouped.extend([1, (channels * self.depth_multiplier) as isize]);
        let spread = self.window.convolve(
            x,
            &depthwise.reshape(&grouped)?,
            None,
            channels,
            Activation::Linear,
        )?;
        // The pointwise step is a 1×1 convolution: one GEMM over all positions.
        let pointwise = pointwise.reshape(&[
            (channels * self.depth_multiplier) as isize,
            self.filters as isize,
        ])?;
        let bias = self.core.weight("bias");
        let y = spread.linear(
            &pointwise,
            bias.as_ref(),
            crate::ops::FusedActivation::Linear,
        )?;
        Ok(vec![self.activation.apply(&y)?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn conv1d_causal_and_same_shapes_follow_keras() {
        let conv = Conv::with_options(
            "c",
            2,
            vec![3],
            vec![1],
            Padding::Causal,
            vec![2],
            1,
            Activation::Linear,
            false,
        )
        .unwrap();
        assert_eq!(
            conv.output_shapes(&[vec![None, Some(10), Some(4)]])
                .unwrap()[0],
            vec![None, Some(10), Some(2)]
        );
        let conv = Conv::with_options(
            "c",
            2,
            vec![3, 3],
            vec![2, 2],
            Padding::Same,
            vec![1, 1],
            1,
            Activation::Linear,
            true,
        )
        .unwrap();
        assert_eq!(
            conv.output_shapes(&[vec![None, Some(7), None, Some(4)]])
                .unwrap()[0],
            vec![None, Some(4), None, Some(2)]
        );
        let err = conv
            .output_shapes(&[vec![None, Some(7), Some(4)]])
            .unwrap_err()
            .to_string();
        assert!(err.contains("rank 4"), "{err}");
        assert!(Conv::with_options(
            "c",
            2,
            vec![3, 3],
            vec![1, 1],
            Padding::Causal,
            vec![1, 1],
            1,
            Activation::Linear,
            true
        )
        .is_err());
    }

    #[test]
    fn causal_conv1d_sees_only_the_past() {
        let conv = Conv::with_options(
            "c",
            1,
            vec![2],
            vec![1],
            Padding::Causal,
            vec![1],
            1,
            Activation::Linear,
            false,
        )
        .unwrap();
        build(&conv, &[vec![None, Some(4), Some(1)]], DType::F32).unwrap();
        // kernel taps (previous, current) = (1, 10)
        conv.weights()[0]
            .value
            .assign(t32(&[2, 1, 1], &[1.0, 10.0]).storage())
            .unwrap();
        let y = conv
            .call(&[t32(&[1, 4, 1], &[1.0, 2.0, 3.0, 4.0])], false)
            .unwrap()
            .remove(0);
        assert_eq!(y.shape(), vec![1, 4, 1]);
        assert_eq!(values(&y), vec![10.0, 21.0, 32.0, 43.0]);
    }

    fn transpose_1d(padding: Padding, output_padding: Option<Vec<usize>>) -> ConvTranspose {
        let layer = ConvTranspose::new(
            "t",
            1,
            vec![3],
            vec![2],
            padding,
            vec![1],
            Activation::Linear,
            false,
        )
        .unwrap()
        .with_output_padding(output_padding)
        .unwrap();
        build(&layer, &[vec![None, Some(2), Some(1)]], DType::F32).unwrap();
        layer.weights()[0]
            .value
            .assign(t32(&[3, 1, 1], &[1.0, 10.0, 100.0]).storage())
            .unwrap();
        layer
    }

    #[test]
    fn output_padding_follows_keras() {
        // Input [1, 2], kernel taps [1, 10, 100], stride 2: the full scatter puts 1 · taps at
        // 0..3 and 2 · taps at 2..5, giving [1, 10, 102, 20, 200].
        let x = t32(&[1, 2, 1], &[1.0, 2.0]);
        let cases: [(Padding, Option<Vec<usize>>, Vec<f64>); 5] = [
            // "valid", inferred: (2 - 1) · 2 + 3 = 5 = the full scatter.
            (Padding::Valid, None, vec![1.0, 10.0, 102.0, 20.0, 200.0]),
            // "valid", p = 1: one more position that no tap reaches.
            (
                Padding::Valid,
                Some(vec![1]),
                vec![1.0, 10.0, 102.0, 20.0, 200.0, 0.0],
            ),
            // "same", inferred: 2 · 2 = 4; pad_len 3, left_pad 2, crop 0.
            (Padding::Same, None, vec![1.0, 10.0, 102.0, 20.0]),
            // "same", p = 0: (2 - 1) · 2 + 3 % 2 = 3; pad_len 2, left_pad 1, crop 1.
            (Padding::Same, Some(vec![0]), vec![10.0, 102.0, 20.0]),
            // "same", p = 1: 4; pad_len 3, left_pad 2, crop 0.
            (Padding::Same, Some(vec![1]), vec![1.0, 10.0, 102.0, 20.0]),
        ];
        for (padding, output_padding, expected) in cases {
            let layer = transpose_1d(padding, output_padding.clone());
            let shape = layer
                .output_shapes(&[vec![None, Some(2), Some(1)]])
                .unwrap();
            assert_eq!(shape[0][1], Some(expected.len()), "{output_padding:?}");
            let y = layer.call(std::slice::from_ref(&x), false).unwrap();
            assert_eq!(values(&y[0]), expected, "{padding:?} {output_padding:?}");
        }
    }

    #[test]
    fn output_padding_is_checked() {
        let make = |strides: Vec<usize>, output_padding: Vec<usize>| {
            let rank = strides.len();
            ConvTranspose::new(
                "t",
                1,
                vec![2; rank],
                strides,
                Padding::Same,
                vec![1; rank],
                Activation::Linear,
                true,
            )
            .unwrap()
            .with_output_padding(Some(output_padding))
        };
        let err = make(vec![2, 3], vec![1, 3]).err().unwrap().to_string();
        assert!(
            err.contains("must be < `strides`") && err.contains("[1, 3]") && err.contains("[2, 3]"),
            "{err}"
        );
        let err = make(vec![2, 2], vec![1]).err().unwrap().to_string();
        assert!(err.contains("2 value(s)") && err.contains("[1]"), "{err}");
        // "same" with an even kernel, p = 0 and one input step: Keras's length is 0.
        let layer = make(vec![1], vec![0]).unwrap();
        let err = layer
            .output_shapes(&[vec![None, Some(1), Some(3)]])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("empty") && err.contains("(None, 1, 3)"),
            "{err}"
        );
    }

    #[test]
    fn built_conv_rejects_other_channels_and_small_inputs() {
        let conv = Conv::new("c", 2, vec![3, 3], Activation::Relu);
        build(&conv, &[vec![None, Some(5), Some(5), Some(3)]], DType::F32).unwrap();
        let err = conv
            .call(&[Tensor::zeros(&[1, 5, 5, 2], DType::F32)], false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("3 channels"), "{err}");
        let err = conv
            .call(&[Tensor::zeros(&[1, 2, 5, 3], DType::F32)], false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("larger than the input"), "{err}");
    }
}
