"""Cross-entropy, Adam, the tiny transformer and its training: checked against torch, finite differences,
the shipped runs of tools/train_chapter10.py (recipes in lessons_lib.training_runs), and for determinism under any BLAS thread count."""


import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from lessons_lib.tasks import InductionTask, LookupTask, WinogradCorpus
from lessons_lib.training import IGNORE_INDEX, Adam, TinyTransformer, cross_entropy, single_blas_thread, train

torch = pytest.importorskip("torch")



def load_script():
    """The run recipes tools/train_chapter10.py uses (they live in the library so the chapter can re-run them)."""
    from lessons_lib import training_runs

    return training_runs


# ------------------------------------------------------------------------------------- loss


def test_cross_entropy_equals_torch_with_ignored_positions():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5, 7)) * 3
    targets = rng.integers(0, 7, size=(3, 5))
    targets[:, :2] = IGNORE_INDEX
    loss, d_logits = cross_entropy(logits, targets)
    t_logits = torch.tensor(logits, requires_grad=True)
    t_loss = torch.nn.functional.cross_entropy(t_logits.reshape(-1, 7), torch.tensor(targets).reshape(-1),
                                               ignore_index=IGNORE_INDEX)
    t_loss.backward()
    assert abs(loss - t_loss.item()) < 1e-12
    np.testing.assert_allclose(d_logits, t_logits.grad.numpy(), atol=1e-12)
    assert np.all(d_logits[:, :2] == 0)
    # and by finite differences, at one entry
    h, idx = 1e-6, (1, 3, 4)
    up, down = logits.copy(), logits.copy()
    up[idx] += h
    down[idx] -= h
    numeric = (cross_entropy(up, targets)[0] - cross_entropy(down, targets)[0]) / (2 * h)
    assert abs(numeric - d_logits[idx]) < 1e-8


@pytest.mark.parametrize(
    "logits, targets, error, words",
    [
        (np.zeros((2, 3)), np.zeros(3, int), ValueError, ["(2, 3)", "(3,)"]),
        (np.zeros((2, 3)), np.zeros(2), TypeError, ["integers", "float64"]),
        (np.zeros((2, 3)), np.array([0, 3]), ValueError, ["[0, 3)", "3"]),
        (np.zeros((2, 3)), np.full(2, IGNORE_INDEX), ValueError, ["nothing to score"]),
        (np.full((2, 3), np.nan), np.zeros(2, int), ValueError, ["logits", "non-finite"]),
        ("abc", np.zeros(2, int), TypeError, ["logits"]),
    ],
)
def test_cross_entropy_refuses_bad_input(logits, targets, error, words):
    with pytest.raises(error) as info:
        cross_entropy(logits, targets)
    for word in words:
        assert word in str(info.value)


# ------------------------------------------------------------------------------------- Adam


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adam_steps_equal_torch_optim_adam(weight_decay):
    rng = np.random.default_rng(1)
    params = {"a": rng.normal(size=(3, 4)), "b": rng.normal(size=5)}
    t_params = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    ours = Adam(params, lr=0.01, betas=(0.8, 0.99), eps=1e-7, weight_decay=weight_decay)
    theirs = torch.optim.Adam(list(t_params.values()), lr=0.01, betas=(0.8, 0.99), eps=1e-7, weight_decay=weight_decay)
    for step in range(3):   # the first step, and two more for the running averages and bias corrections
        grads = {k: rng.normal(size=v.shape) for k, v in params.items()}
        for k, p in t_params.items():
            p.grad = torch.tensor(grads[k])
        ours.step(grads)
        theirs.step()
        for k in params:
            np.testing.assert_allclose(params[k], t_params[k].detach().numpy(), rtol=0, atol=1e-14, err_msg=f"{k}, step {step}")


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda p: Adam([1, 2]), TypeError, ["dict"]),
        (lambda p: Adam(p, lr=-1), ValueError, ["lr"]),
        (lambda p: Adam(p, betas=(0.9, 1.0)), ValueError, ["betas"]),
        (lambda p: Adam(p).step({"x": np.zeros(3)}), ValueError, ["missing", "'a'"]),
        (lambda p: Adam(p).step({"a": np.zeros(4)}), ValueError, ["grads['a']", "(4,)", "(3,)"]),
    ],
)
def test_adam_refuses_bad_input(make, error, words):
    with pytest.raises(error) as info:
        make({"a": np.zeros(3)})
    for word in words:
        assert word in str(info.value)


# ------------------------------------------------------------------------------------- the model


def test_model_gradients_match_finite_differences():
    task = InductionTask(length=4, vocab_size=6)
    model = TinyTransformer(task.vocab_size, task.length + 1, d_model=8, num_heads=2, d_ff=12, num_layers=2,
                            causal=True, seed=3)
    tokens, _, _ = task.sample(np.random.default_rng(4), 3)
    targets = np.random.default_rng(5).integers(0, task.vocab_size, size=tokens.shape)
    targets[0, 1] = IGNORE_INDEX
    loss, grads, _ = model.loss_and_grads(tokens, targets)
    rng = np.random.default_rng(6)
    for name, p in model.params.items():
        used = np.unique(tokens) if name == "tok_emb" else None
        for _ in range(3):
            idx = (int(rng.choice(used)), int(rng.integers(p.shape[1]))) if used is not None else \
                tuple(int(rng.integers(n)) for n in p.shape)
            old = p[idx]
            p[idx] = old + 1e-6
            plus = model.loss_and_grads(tokens, targets)[0]
            p[idx] = old - 1e-6
            minus = model.loss_and_grads(tokens, targets)[0]
            p[idx] = old
            numeric = (plus - minus) / 2e-6
            assert abs(numeric - grads[name][idx]) < 1e-6 * max(1, abs(numeric)), (name, idx, numeric, grads[name][idx])


def test_short_lookup_training_reaches_its_stated_loss_and_accuracy():
    task = LookupTask()
    model = TinyTransformer(task.vocab_size, task.length, d_model=32, num_heads=1, d_ff=64, seed=0)
    losses = train(model, task.batches(64), 250, lr=3e-3, seed=1)
    assert losses[0] > 4.0 and losses[-20:].mean() < 0.3, (losses[0], losses[-20:].mean())
    tokens, targets, _ = task.sample(np.random.default_rng(99), 1000)
    logits, _ = model.forward(tokens)
    assert (logits[:, -1].argmax(-1) == targets[:, -1]).mean() >= 0.9


def test_training_is_deterministic_and_independent_of_the_blas_thread_count():
    task = LookupTask(num_pairs=3, num_keys=4, num_values=4)
    runs = []
    for threads in (1, 2, 1):
        model = TinyTransformer(task.vocab_size, task.length, d_model=64, num_heads=2, d_ff=128, seed=7)
        with threadpool_limits(limits=threads, user_api="blas"):
            losses = train(model, task.batches(128), 15, seed=8)
        runs.append((losses, model.params))
    for losses, params in runs[1:]:
        assert np.array_equal(losses, runs[0][0])
        assert all(np.array_equal(params[k], runs[0][1][k]) for k in params)
    with single_blas_thread():
        assert all(pool["num_threads"] == 1 for pool in threadpool_info() if pool["user_api"] == "blas")


def test_save_and_load_round_trip(tmp_path):
    model = TinyTransformer(10, 6, d_model=8, num_heads=2, d_ff=8, num_layers=2, causal=True, scale=1.0, seed=2)
    model.save(tmp_path / "m.npz", losses=np.arange(3.0))
    loaded, extra = TinyTransformer.load(tmp_path / "m.npz")
    assert loaded.config() == model.config()
    assert all(np.array_equal(loaded.params[k], v) for k, v in model.params.items())
    assert np.array_equal(extra["losses"], np.arange(3.0))


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda: TinyTransformer(10, 5, d_model=6, num_heads=4), ValueError, ["num_heads=4", "d_model=6"]),
        (lambda: TinyTransformer(0, 5), ValueError, ["vocab_size"]),
        (lambda: TinyTransformer(10, 5).forward(np.zeros((2, 6), int)), ValueError, ["max_len=5", "(2, 6)"]),
        (lambda: TinyTransformer(10, 5).forward(np.full((2, 3), 10)), ValueError, ["[0, 10)"]),
        (lambda: TinyTransformer(10, 5).forward(np.zeros((2, 3))), TypeError, ["integer"]),
        (lambda: TinyTransformer(10, 5).forward(np.zeros(3, int)), ValueError, ["(batch, n)"]),
        (lambda: train(TinyTransformer(10, 5), None, -1), ValueError, ["steps"]),
    ],
)
def test_model_refuses_bad_input(make, error, words):
    with pytest.raises(error) as info:
        make()
    for word in words:
        assert word in str(info.value)


# ------------------------------------------------------------------------------------- tasks


def test_tasks_answers():
    task = LookupTask()
    tokens, targets, match = task.sample(np.random.default_rng(0), 50)
    labels = task.labels()
    for row, target, m in zip(tokens, targets, match):
        key = labels[row[-1]][:-1]
        assert labels[row[m]].split(":")[0] == key and labels[row[m]] == f"{key}:{target[-1]}"
        assert len({labels[t].split(":")[0] for t in row[:-1]}) == task.num_pairs
        assert np.all(target[:-1] == IGNORE_INDEX)
    task = InductionTask()
    tokens, targets, match = task.sample(np.random.default_rng(1), 50)
    for row, target, m in zip(tokens, targets, match):
        assert row[m - 1] == row[-1] and target[-1] == row[m] and len(set(row[:-1])) == task.length
    with pytest.raises(ValueError, match="num_pairs"):
        LookupTask(num_pairs=9, num_keys=8)
    with pytest.raises(ValueError, match="length"):
        InductionTask(length=20, vocab_size=16)


def test_winograd_corpus_splits_and_referents():
    corpus = WinogradCorpus()
    pos = corpus.positions
    splits = {name: corpus.split(name) for name in ("train", "heldout_pairs", "unseen_adjectives")}
    seen = {tuple(s) for s in splits["train"]}
    assert not seen & {tuple(s) for s in splits["heldout_pairs"]}
    train_words = {corpus.vocab[i] for i in np.unique(splits["train"])}
    assert not set(corpus.unseen_adjectives) & train_words
    assert set(corpus.agents + corpus.things) <= train_words          # every noun is seen in training
    for sentence in splits["heldout_pairs"][:20]:
        words = corpus.decode(sentence).split()
        assert (words[pos["agent"]], words[pos["thing"]]) in corpus.heldout_pairs
        expected = words[pos["agent"]] if words[pos["adjective"]] in corpus.agent_adjectives else words[pos["thing"]]
        assert words[-1] == expected and words[pos["it"]] == "it" and words[pos["answer"]] == "="
    assert corpus.decode(corpus.encode("the dog was tired")) == "the dog was tired"
    with pytest.raises(KeyError, match="'zebra'"):
        corpus.encode("the zebra")
    with pytest.raises(ValueError, match="split"):
        corpus.split("test")


# ------------------------------------------------------------------------------------- the shipped runs


def test_the_script_reproduces_the_shipped_runs():
    """The first steps of each run in tools/train_chapter10.py give the shipped loss curves, bit for bit."""
    script = load_script()
    for layers in (1, 2):
        _, shipped = TinyTransformer.load(script.DATA / f"ch10_induction_{layers}layer.npz")
        _, losses = script.train_induction(layers, steps=8)
        assert np.array_equal(losses, shipped["losses"][:8])
    _, shipped = TinyTransformer.load(script.DATA / "ch10_winograd.npz")
    _, losses = script.train_winograd(steps=8)
    assert np.array_equal(losses, shipped["losses"][:8])
    with np.load(script.DATA / "ch10_scale_curves.npz") as curves:
        assert np.array_equal(script.train_scale(1, False, steps=8), curves["unscaled_1"][:8])


def test_the_model_is_chapter_9s_decoder_and_generates_with_its_kv_cache():
    import lessons_lib as ll

    model = TinyTransformer(12, 10, d_model=8, num_heads=2, d_ff=8, num_layers=2, causal=True, seed=4)
    tokens = np.random.default_rng(0).integers(0, 12, size=(3, 10))
    logits, _ = model.forward(tokens)
    for row, expected in zip(tokens, logits):
        np.testing.assert_allclose(ll.decoder_forward(row, model.decoder_params(), 2), expected, atol=1e-12)
    prompt = np.array([3, 1, 4])
    cached = ll.generate(prompt, model.decoder_params(), 2, 8, temperature=1.0, rng=1)
    full = ll.generate(prompt, model.decoder_params(), 2, 8, temperature=1.0, rng=1, use_cache=False)
    assert np.array_equal(cached[0], full[0]) and len(cached[0]) == 11
    np.testing.assert_allclose(cached[1], full[1], atol=1e-12)
