//! Every random stream of textgan, named and derived in one place.
//!
//! Each stream is a ChaCha8 generator seeded with `seed_from_u64` of a 64-bit value derived
//! from one seed: the run's `--seed` (recorded in `config.json`) for the streams of a run, the
//! command's `--seed` for `generate` and `eval`. These derivations are part of the
//! run-directory format: `state.json` stores only the training stream's position and the data
//! order's `(epoch, pos)`, so `--resume` rebuilds every stream from the seed, and a seed
//! reproduces a run only while the derivations stay as they are. The golden test below pins
//! the first draws of every stream; a change to any derivation must fail it (and would be a
//! new run-directory format). `docs/usage.md` ("The run directory") has the same table.
//!
//! | stream | seeded with | draws |
//! |---|---|---|
//! | [`Stream::GeneratorInit`] | `(seed · φ) ^ 1` | the generator's initial weights (its average starts equal) |
//! | [`Stream::CriticInit`] | `(seed · φ) ^ 2` | the critic's initial weights |
//! | [`Stream::Training`] | `seed` | every step's noise and mixing weights, in order; its word position is saved |
//! | [`Stream::DataOrder`] | `seed ^ 0xDA7A_0000_0000_0000 ^ epoch` | the shuffled order of the training lines in that epoch |
//! | [`Stream::HeldOut`] | `seed ^ 0x5EED_C0DE_0000_0001` | which lines are held out (the corpus shuffle) |
//! | [`Stream::FixedNoise`] | `seed ^ 0xF1` | the 64 noise vectors of the samples written at each evaluation |
//! | [`Stream::Preview`] | `seed ^ 0x9E7` | new noise for the live preview (display only) |
//! | [`Stream::Evaluation`] | `seed ^ 0xE7A1 ^ rotl(iteration, 17)` | the 640 noise vectors an evaluation scores |
//! | [`Stream::SampleNoise`] | `seed` (the command's) | `generate`'s (and `eval`'s) noise |
//! | [`Stream::SampleDraws`] | `seed ^ 0x7E3F` (the command's) | draws at a `--temperature` above 0 |
//! | [`Stream::Markov`] | `seed` (the command's) | `eval --baseline markov`'s samples |
//!
//! `φ` is `0x9E37_79B9_7F4A_7C15` (2⁶⁴ divided by the golden ratio), multiplied with wrapping.
//! The streams are independent because ChaCha8 keyed by different 64-bit seeds is; the
//! constants only have to differ. The training, sampling-noise and Markov streams share the
//! derivation `seed` on purpose: they never meet in one process with the same seed's meaning.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// 2⁶⁴ / φ: spreads consecutive seeds apart before the initial-weight streams' tags.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// One named random stream. See the module's table for what each draws and its derivation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The generator's initial weights (the weight average starts from the same draws).
    GeneratorInit,
    /// The critic's initial weights.
    CriticInit,
    /// Noise and mixing weights of every training step, in order. A checkpoint saves its word
    /// position (`rng_word_pos` in `state.json`).
    Training,
    /// The shuffled order of the training lines in one epoch.
    DataOrder { epoch: u64 },
    /// The shuffle that decides which lines of the corpus are held out.
    HeldOut,
    /// The fixed noise batch whose samples every evaluation writes.
    FixedNoise,
    /// Fresh noise for the live preview ("new random samples"); never touches training.
    Preview,
    /// The noise scored by the evaluation at this iteration: its own stream, so evaluating
    /// never changes the training trajectory.
    Evaluation { iteration: u64 },
    /// `generate`'s noise from the command's `--seed` (`eval` of a model too).
    SampleNoise,
    /// `generate`'s categorical draws at a temperature: their own stream, so the noise (and
    /// so the argmax text) of a seed does not depend on the temperature.
    SampleDraws,
    /// `eval --baseline markov`'s samples from the command's `--seed`.
    Markov,
}

impl Stream {
    /// The 64-bit seed of this stream's ChaCha8 generator, from `seed` (the run's for the run's
    /// streams, the command's for the sampling ones).
    pub fn seed(self, seed: u64) -> u64 {
        match self {
            Stream::GeneratorInit => seed.wrapping_mul(GOLDEN) ^ 1,
            Stream::CriticInit => seed.wrapping_mul(GOLDEN) ^ 2,
            Stream::Training | Stream::SampleNoise | Stream::Markov => seed,
            Stream::DataOrder { epoch } => seed ^ 0xDA7A_0000_0000_0000 ^ epoch,
            Stream::HeldOut => seed ^ 0x5EED_C0DE_0000_0001,
            Stream::FixedNoise => seed ^ 0xF1,
            Stream::Preview => seed ^ 0x9E7,
            Stream::Evaluation { iteration } => seed ^ 0xE7A1 ^ iteration.rotate_left(17),
            Stream::SampleDraws => seed ^ 0x7E3F,
        }
    }

    /// This stream's generator at its start.
    pub fn rng(self, seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(self.seed(seed))
    }

    /// This stream's generator at a saved word position (how `--resume` continues
    /// [`Stream::Training`]).
    pub fn rng_at(self, seed: u64, word_pos: u128) -> ChaCha8Rng {
        let mut rng = self.rng(seed);
        rng.set_word_pos(word_pos);
        rng
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    /// Every stream once, the parameterised ones at two values.
    const ALL: [Stream; 13] = [
        Stream::GeneratorInit,
        Stream::CriticInit,
        Stream::Training,
        Stream::DataOrder { epoch: 0 },
        Stream::DataOrder { epoch: 3 },
        Stream::HeldOut,
        Stream::FixedNoise,
        Stream::Preview,
        Stream::Evaluation { iteration: 0 },
        Stream::Evaluation { iteration: 2000 },
        Stream::SampleNoise,
        Stream::SampleDraws,
        Stream::Markov,
    ];

    /// The first two 64-bit draws of every stream for seeds 0 and 1234, as written by textgan
    /// 0.1.0. A failure means a derivation changed: every existing run would resume
    /// differently and every seed would give other text. Don't update these numbers; change
    /// the derivation back (or make a new run-directory format, on purpose).
    #[test]
    fn golden_first_draws_of_every_stream() {
        let golden: [[u64; 4]; 13] = GOLDEN_DRAWS;
        for (stream, want) in ALL.iter().zip(golden) {
            let mut got = [0u64; 4];
            for (i, seed) in [0u64, 1234].into_iter().enumerate() {
                let mut rng = stream.rng(seed);
                got[2 * i] = rng.next_u64();
                got[2 * i + 1] = rng.next_u64();
            }
            assert_eq!(got, want, "{stream:?}: its derivation changed");
        }
    }

    #[test]
    fn distinct_streams_of_one_seed_have_distinct_seeds() {
        // Training, sample noise and Markov share `seed` by design (never in one process);
        // every other pair must differ.
        let same = |s: Stream| matches!(s, Stream::Training | Stream::SampleNoise | Stream::Markov);
        for (i, a) in ALL.iter().enumerate() {
            for b in &ALL[i + 1..] {
                if same(*a) && same(*b) {
                    continue;
                }
                assert_ne!(a.seed(1234), b.seed(1234), "{a:?} and {b:?}");
            }
        }
    }

    #[test]
    fn a_stream_at_a_saved_position_continues_where_it_was() {
        let mut rng = Stream::Training.rng(7);
        for _ in 0..5 {
            rng.next_u32();
        }
        let mut resumed = Stream::Training.rng_at(7, rng.get_word_pos());
        assert_eq!(rng.next_u64(), resumed.next_u64());
    }

    #[rustfmt::skip]
    const GOLDEN_DRAWS: [[u64; 4]; 13] = [
        [7424550030962593201, 1482817706323250795, 15807096978697816147, 38107988721437529],
        [16257866876066601925, 10116765682372994352, 4345241203456400298, 16624339485036081263],
        [13080132717333068652, 8594738769458413623, 7127326097029154973, 18378963773416072022],
        [4187670708318598601, 7058183569616241928, 14364176895472173759, 14844231291259415924],
        [649208908582492664, 4510327812094123827, 15444136026622417815, 12093142289001221096],
        [16808561419598620287, 3504788715842638516, 14169570287144317394, 12128747377340668761],
        [2862192041259958756, 9761279615788753998, 14012781206224625742, 5814345804121077970],
        [5507491178387755375, 11819770319496432097, 4488788686723890831, 3895171724751985477],
        [2902092737981853984, 14766858346623778668, 8825483884918424320, 11280012013245515937],
        [7594786156842393218, 15989113764027663388, 5734671295693612218, 1771416107832698584],
        [13080132717333068652, 8594738769458413623, 7127326097029154973, 18378963773416072022],
        [1319874303716417060, 15334345526360140572, 1578452174903110101, 3587006378626841956],
        [13080132717333068652, 8594738769458413623, 7127326097029154973, 18378963773416072022],
    ];
}
