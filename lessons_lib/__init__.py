"""lessons_lib: the small numpy library behind the self-attention course.

Row-vector convention, as in ``Z = softmax(Q Kᵀ / √d_k) V``. Boolean masks: True = may attend.
"""

from .attention import hard_lookup, scaled_dot_product_attention, soft_lookup, softmax
from .masks import causal_mask, padding_mask
from .analysis import entropy, expected_dot_product_variance, sample_dot_products, softmax_jacobian
from .chunked import chunked_attention
from .multi_head import init_multi_head_params, multi_head_attention
from .positions import alibi_bias, alibi_slopes, rope, sinusoidal_positions
from .block import gelu, init_block_params, layer_norm, rms_norm, transformer_block
from .decoder import (
    KVCache,
    decoder_forward,
    decoder_step,
    generate,
    generation_flops,
    init_decoder_params,
    next_token_distribution,
    sample_next_token,
)
from .backward import attention_backward
from .online_softmax import online_softmax_steps
from .notebook import glue  # what myst_nb.glue writes, without MyST-NB at run time

__all__ = [
    "softmax",
    "hard_lookup",
    "soft_lookup",
    "scaled_dot_product_attention",
    "causal_mask",
    "padding_mask",
    "init_multi_head_params",
    "multi_head_attention",
    "chunked_attention",
    "entropy",
    "softmax_jacobian",
    "sample_dot_products",
    "expected_dot_product_variance",
    "sinusoidal_positions",
    "rope",
    "alibi_slopes",
    "alibi_bias",
    "layer_norm",
    "rms_norm",
    "gelu",
    "init_block_params",
    "transformer_block",
    "init_decoder_params",
    "decoder_forward",
    "next_token_distribution",
    "sample_next_token",
    "KVCache",
    "decoder_step",
    "generate",
    "generation_flops",
    "attention_backward",
    "online_softmax_steps",
    "glue",
]

__version__ = "0.2.0"
