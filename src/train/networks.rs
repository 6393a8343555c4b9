//! The two networks a run trains, their parameters, and the generator's weight average
//! (`--ema`), initialised from the run's seed ([`Stream::GeneratorInit`],
//! [`Stream::CriticInit`]).

use candle_core::{DType, Device};

use super::ema;
use super::settings::RunConfig;
use crate::error::Result;
use crate::model::autograd::critic::Critic;
use crate::model::autograd::generator::Generator;
use crate::model::params::{Params, Store};
use crate::streams::Stream;

pub struct Networks {
    generator: Generator,
    gen_params: Params,
    critic: Critic,
    critic_params: Params,
    /// A second generator whose parameters follow the trained one's ([`ema`]): what samples,
    /// evaluation and `generate` use when the run averages.
    average: Option<(Generator, Params)>,
    device: Device,
}

impl Networks {
    /// Fresh networks of `config`'s shape, weights drawn from its seed's streams.
    pub fn init(config: &RunConfig, dtype: DType, device: &Device) -> Result<Self> {
        let gen_seed = Stream::GeneratorInit.seed(config.seed);
        let store = |seed| Store::new(seed, dtype, device);
        let with_gumbel = |(g, p): (Generator, Params)| (g.trained_with_gumbel(config.gumbel), p);
        let (generator, gen_params) = with_gumbel(Generator::init(config.model, store(gen_seed))?);
        // The same stream: the average starts at the generator's initial weights.
        let average = if config.ema > 0.0 {
            Some(with_gumbel(Generator::init(config.model, store(gen_seed))?))
        } else {
            None
        };
        let critic_seed = Stream::CriticInit.seed(config.seed);
        let (critic, critic_params) = Critic::init(config.model, store(critic_seed))?;
        Ok(Networks {
            generator,
            gen_params,
            critic,
            critic_params,
            average,
            device: device.clone(),
        })
    }

    /// Where the parameters are.
    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn generator(&self) -> &Generator {
        &self.generator
    }

    pub fn critic(&self) -> &Critic {
        &self.critic
    }

    /// The trained generator's parameters.
    pub fn gen_params(&self) -> &Params {
        &self.gen_params
    }

    pub fn critic_params(&self) -> &Params {
        &self.critic_params
    }

    /// The weight average's parameters, when the run averages.
    pub fn average(&self) -> Option<&Params> {
        self.average.as_ref().map(|(_, p)| p)
    }

    /// The generator whose samples the run shows and scores: the average with `--ema`, the
    /// trained one otherwise.
    pub fn shown(&self) -> (&Generator, &Params) {
        match &self.average {
            Some((g, p)) => (g, p),
            None => (&self.generator, &self.gen_params),
        }
    }

    /// Move the average toward the weights just updated, at the decay in force at
    /// `iteration`.
    pub fn update_average(&self, decay: f64, iteration: u64) -> Result<()> {
        if let Some((_, avg)) = &self.average {
            ema::update(avg, &self.gen_params, ema::decay_at(decay, iteration))?;
        }
        Ok(())
    }
}
