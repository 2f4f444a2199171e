"""lessons_lib: the small numpy library behind the self-attention course.

Row-vector convention, as in ``Z = softmax(Q Kᵀ / √d_k) V``. Boolean masks: True = may attend.
"""

from .attention import hard_lookup, scaled_dot_product_attention, soft_lookup, softmax
from .masks import causal_mask, padding_mask
from .analysis import entropy, expected_dot_product_variance, sample_dot_products, softmax_jacobian
from .chunked import chunked_attention
from .multi_head import init_multi_head_params, multi_head_attention
from .online_softmax import online_softmax_steps

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
    "online_softmax_steps",
]

__version__ = "0.1.0"
