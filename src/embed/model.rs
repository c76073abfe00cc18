//! The weights and the forward pass: BERT's last hidden state (Devlin et al.,
//! <https://arxiv.org/abs/1810.04805>) mean-pooled over each text's tokens and L2-normalised,
//! as sentence-transformers' `Pooling(mean)` + `Normalize` modules do (<https://www.sbert.net/>).

use super::{DIMS, EmbedError};
use crate::llm::Pool;
use crate::llm::bert::{Act, Bert, SafeTensors, Shape, mean_pool_normalize};
use std::path::{Path, PathBuf};

/// BERT's activation in the MLP (`hidden_act` of Hugging Face's `BertConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub(super) enum HiddenAct {
    /// The exact GELU (erf form).
    #[serde(rename = "gelu")]
    Gelu,
    /// GELU's tanh approximation.
    #[serde(
        alias = "gelu_new",
        alias = "gelu_pytorch_tanh",
        rename = "gelu_approximate"
    )]
    GeluApproximate,
    /// ReLU.
    #[serde(rename = "relu")]
    Relu,
}

/// The fields of Hugging Face's BERT `config.json` the encoder reads
/// (<https://huggingface.co/docs/transformers/model_doc/bert#transformers.BertConfig>).
#[derive(Debug, Clone, serde::Deserialize)]
pub(super) struct Config {
    /// Token vocabulary size.
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// The MLP's activation.
    pub hidden_act: HiddenAct,
    /// Positions with an embedding: the hard limit on tokens per text.
    pub max_position_embeddings: usize,
    /// Token-type (segment) vocabulary size.
    #[serde(default = "two")]
    pub type_vocab_size: usize,
    /// Layer-norm epsilon.
    #[serde(default = "bert_eps")]
    pub layer_norm_eps: f64,
}

impl Config {
    /// What the encoder needs of it.
    pub(super) fn shape(&self) -> Shape {
        Shape {
            vocab: self.vocab_size,
            hidden: self.hidden_size,
            layers: self.num_hidden_layers,
            heads: self.num_attention_heads,
            ff: self.intermediate_size,
            positions: self.max_position_embeddings,
            types: self.type_vocab_size,
            eps: self.layer_norm_eps,
            act: match self.hidden_act {
                HiddenAct::Gelu => Act::Gelu,
                HiddenAct::GeluApproximate => Act::GeluTanh,
                HiddenAct::Relu => Act::Relu,
            },
        }
    }
}

fn two() -> usize {
    2
}

fn bert_eps() -> f64 {
    1e-12
}

/// The subset of `config.json` checked here besides what the BERT encoder reads.
pub(super) struct BertConfig {
    /// Positions the model has embeddings for (512): the hard limit on tokens per text.
    pub max_position_embeddings: usize,
    /// The whole configuration, for the BERT encoder.
    pub bert: Config,
}

impl BertConfig {
    /// Reads `config.json` in `dir`.
    ///
    /// # Errors
    /// [`EmbedError::MissingFile`], or [`EmbedError::Load`] if it is not a BERT config with
    /// [`DIMS`] hidden units.
    pub(super) fn open(dir: &Path) -> Result<Self, EmbedError> {
        let path = dir.join("config.json");
        let bert: Config = read_json(&path)?;
        if bert.hidden_size != DIMS {
            return Err(EmbedError::Load {
                path,
                detail: format!("hidden_size is {}, expected {DIMS}", bert.hidden_size),
            });
        }
        Ok(Self {
            max_position_embeddings: bert.max_position_embeddings,
            bert,
        })
    }
}

/// `pooling_config.json` (sentence-transformers `1_Pooling/config.json`).
#[derive(serde::Deserialize)]
struct PoolingConfig {
    word_embedding_dimension: usize,
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, EmbedError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(EmbedError::MissingFile {
                path: path.to_path_buf(),
            });
        }
        Err(e) => {
            return Err(EmbedError::Load {
                path: path.to_path_buf(),
                detail: e.to_string(),
            });
        }
    };
    serde_json::from_str(&text).map_err(|e| EmbedError::Load {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

/// The loaded model, owned by the worker thread.
pub(super) struct Model {
    bert: Bert,
    pool: Pool,
    dir: PathBuf,
}

impl Model {
    /// Loads the weights from `dir/model.safetensors` (memory-mapped while read; the matrices
    /// are kept as f16: about 44 MiB in all, see [`Model::weight_bytes`]) and starts a pool of
    /// `threads` CPU threads (the calling one included) for its products.
    ///
    /// # Errors
    /// [`EmbedError::MissingFile`] for any of the model files, [`EmbedError::Load`] if one is
    /// unreadable, a tensor is missing or misshapen (named), or the pooling is not plain mean
    /// pooling over [`DIMS`] dimensions.
    pub(super) fn open(dir: &Path, threads: usize) -> Result<Self, EmbedError> {
        super::Embedder::check_files(dir)?;
        let config = BertConfig::open(dir)?;
        let pooling_path = dir.join("pooling_config.json");
        let pooling: PoolingConfig = read_json(&pooling_path)?;
        if !pooling.pooling_mode_mean_tokens
            || pooling.pooling_mode_cls_token
            || pooling.pooling_mode_max_tokens
            || pooling.pooling_mode_mean_sqrt_len_tokens
            || pooling.word_embedding_dimension != DIMS
        {
            return Err(EmbedError::Load {
                path: pooling_path,
                detail: format!("only mean pooling over {DIMS} dimensions is supported"),
            });
        }
        let weights = dir.join("model.safetensors");
        let load_err = |detail: String| EmbedError::Load {
            path: weights.clone(),
            detail,
        };
        let st = SafeTensors::open(&weights).map_err(load_err)?;
        let bert = Bert::load(&st, &config.bert.shape()).map_err(load_err)?;
        Ok(Self {
            bert,
            pool: Pool::new(threads.max(1)),
            dir: dir.to_path_buf(),
        })
    }

    /// Bytes of the weights held on the heap.
    pub(super) fn weight_bytes(&self) -> usize {
        self.bert.weight_bytes()
    }

    /// Embeds token sequences in one forward pass (laid end to end, no padding). Returns one
    /// unit vector of [`DIMS`] floats per sequence; an empty sequence gets zeros.
    ///
    /// # Errors
    /// [`EmbedError::Compute`] for a token id outside the vocabulary or a sequence longer
    /// than the position embeddings.
    pub(super) fn embed(&self, seqs: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let nonempty: Vec<&[u32]> = seqs.iter().copied().filter(|s| !s.is_empty()).collect();
        let hidden =
            self.bert
                .forward(&self.pool, &nonempty)
                .map_err(|detail| EmbedError::Compute {
                    model_dir: self.dir.clone(),
                    detail,
                })?;
        let lens: Vec<usize> = nonempty.iter().map(|s| s.len()).collect();
        let mut pooled = mean_pool_normalize(&hidden, &lens, DIMS).into_iter();
        Ok(seqs
            .iter()
            .map(|s| match s.is_empty() {
                true => vec![0.0; DIMS],
                false => pooled.next().expect("one vector per non-empty sequence"),
            })
            .collect())
    }
}
