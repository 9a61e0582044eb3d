"""Sentence models (TextVAE, TextLM) and their data: vocabulary, padding, bounds, schedules, a tiny corpus,
bad input, the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from genmodels import DataError, TextLM, TextVAE, load
from genmodels.cli import main
from genmodels.data import load_dataset
from genmodels.data.text import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    Vocabulary,
    bucket_order,
    encode_sentences,
    lengths_of,
    read_text_file,
)
from genmodels.models.text_vae import kl_weight

FOUR = ["the cat sat on the mat", "a dog ran in the park today", "birds sing", "my old cat likes the warm sun"]
SMALL = dict(embed_dim=16, hidden_dim=32, batch_size=8, verbose=0, lr=1e-2)


@pytest.fixture(scope="module")
def vae():
    return TextVAE(latent_dim=4, epochs=60, kl_steps=100, **SMALL).fit(FOUR * 4)


def test_vocabulary_round_trip_and_limits():
    vocab = Vocabulary.fit(["a b b c c c", "c d"], max_size=6, min_count=1)
    assert vocab.tokens == ["<pad>", "<unk>", "<bos>", "<eos>", "c", "b"]  # by count, capped at 6
    assert vocab.encode("c b a zebra") == [4, 5, UNK_ID, UNK_ID]
    assert vocab.decode([BOS_ID, 4, 5, EOS_ID, 4, PAD_ID]) == "c b"  # stops at <eos>
    assert Vocabulary.from_json(json.loads(json.dumps(vocab.to_json()))).tokens == vocab.tokens
    assert Vocabulary.fit(["a b b"], min_count=2).tokens[4:] == ["b"]
    rows = encode_sentences(vocab, ["c", "b c b"])
    assert rows.tolist() == [[BOS_ID, 4, EOS_ID, 0, 0], [BOS_ID, 5, 4, 5, EOS_ID]]
    assert lengths_of(torch.from_numpy(rows)).tolist() == [3, 5]


def test_saved_model_keeps_its_vocabulary(vae, tmp_path):
    vae.save(tmp_path / "run")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["fitted"]["vocab"] == vae.vocab_.tokens
    loaded = load(tmp_path / "run")
    assert loaded.vocab_.tokens == vae.vocab_.tokens
    np.testing.assert_array_equal(loaded.transform(FOUR), vae.transform(FOUR))
    assert loaded.sample(5, seed=3) == vae.sample(5, seed=3)


def test_padding_is_masked_out_of_the_loss(vae):
    net = vae.module_.eval()
    tokens = vae.tokens_of(FOUR)  # different lengths: padded
    z = torch.randn(len(FOUR), 4)
    with torch.no_grad():
        batch = net.sentence_nll(tokens, z)
        one_by_one = torch.stack([net.sentence_nll(tokens[i: i + 1, : int(lengths_of(tokens[i]))], z[i: i + 1])[0]
                                  for i in range(len(FOUR))])
    torch.testing.assert_close(batch, one_by_one, rtol=1e-5, atol=1e-4)
    lm = TextLM(epochs=1, **SMALL).fit(FOUR)
    whole = lm.score_samples(FOUR)
    np.testing.assert_allclose(whole, np.concatenate([lm.score_samples([s]) for s in FOUR]), rtol=1e-5)
    assert lm.log_likelihood(FOUR).mean == pytest.approx(whole.mean())


def test_iwae_bound_is_at_least_the_elbo(vae):
    iwae = vae.score_samples(FOUR)  # the same posterior draws as elbo(k=iwae_k)
    assert np.all(iwae >= vae.elbo(FOUR, k=vae.iwae_k) - 1e-9)
    est = vae.log_likelihood(FOUR, k=20)
    assert est.method == "iwae" and est.n_runs == 20 and est.interval == (est.mean, math.inf)


def test_kl_schedules():
    assert [kl_weight("linear", s, 100) for s in (0, 50, 100, 500)] == [0.0, 0.5, 1.0, 1.0]
    assert [kl_weight("cyclical", s, 100) for s in (0, 25, 50, 99, 100, 125)] == [0.0, 0.5, 1.0, 1.0, 0.0, 0.5]
    assert kl_weight("none", 0, 100) == 1.0 and kl_weight("linear", 3, 0) == 1.0


def test_tiny_corpus_is_learned(vae):
    lm = TextLM(epochs=40, **SMALL).fit([FOUR[0]] * 16)
    assert -lm.log_likelihood([FOUR[0]]).mean < 0.05  # one sentence: near-zero NLL
    assert lm.sample(3, seed=0) == [FOUR[0]] * 3
    # four equally frequent sentences: log 4 nats for the first word, then the latent says which
    assert vae.reconstruct(FOUR) == FOUR
    assert -vae.log_likelihood(FOUR).mean == pytest.approx(math.log(4), abs=0.5)
    line = vae.interpolate(FOUR[0], FOUR[1], 4)
    assert line[0] == FOUR[0] and line[-1] == FOUR[1] and len(line) == 4
    metrics = vae.text_metrics(FOUR, k=10)
    assert metrics["kl_per_sentence"] > 0 and metrics["active_units"] >= 1


def test_bucketed_order_is_a_permutation_of_similar_lengths():
    lengths = torch.tensor(np.random.default_rng(0).integers(3, 60, 1000))
    order = bucket_order(lengths, 20, seed=1, epoch=2)
    assert sorted(order.tolist()) == list(range(1000))
    assert torch.equal(order, bucket_order(lengths, 20, seed=1, epoch=2))
    assert not torch.equal(order, bucket_order(lengths, 20, seed=1, epoch=3))
    spread = lengths[order].view(-1, 20).float()
    assert float((spread.max(1).values - spread.min(1).values).mean()) < 5  # random batches: ~50


def test_bucketed_order_under_two_ranks_deals_each_rank_half_of_every_bucket():
    """The Trainer deals rank r the rows order[r::2]: a rank's batch of 20 is half of one bucket of 40."""
    lengths = torch.tensor(np.random.default_rng(0).integers(3, 60, 1000))
    order = bucket_order(lengths, 20, seed=1, epoch=0, world=2)
    assert sorted(order.tolist()) == list(range(1000))
    shards = [order[r::2] for r in (0, 1)]
    assert not set(shards[0].tolist()) & set(shards[1].tolist())
    for b in range(25):
        both = torch.cat([s[b * 20: (b + 1) * 20] for s in shards])
        assert torch.equal(both.sort().values, order[b * 40: (b + 1) * 40].sort().values)
    spread = lengths[shards[0]].view(-1, 20).float()
    assert float((spread.max(1).values - spread.min(1).values).mean()) < 5


@pytest.fixture
def bad_files(tmp_path):
    (tmp_path / "empty.txt").write_text("\n  \n")
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\r\n\x00\x00\x01")
    (tmp_path / "long.txt").write_text("short line\n" + " ".join(["w"] * 250) + "\n")
    return tmp_path


@pytest.mark.parametrize(("name", "fragment"), [("empty", "no sentences"), ("binary", "binary file"),
                                                ("long", "line 2 has 250 words")])
def test_bad_text_files_are_one_line_errors(bad_files, capsys, name, fragment):
    path = bad_files / f"{name}.txt"
    for call in (lambda: read_text_file(path), lambda: load_dataset(f"text:{path}"),
                 lambda: TextLM(**SMALL).fit(f"text:{path}")):
        with pytest.raises(DataError, match=fragment) as err:
            call()
        assert "\n" not in str(err.value)
    code = main(["train", "textlm", "--data", f"text:{path}", "-o", str(bad_files / "run"), "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and fragment in err[0]
    assert not (bad_files / "run").exists()


def test_a_sentence_longer_than_max_len_and_non_text_are_refused():
    with pytest.raises(DataError, match="more than the maximum 3"):
        TextLM(max_len=3, **SMALL).fit(["a b c d"])
    with pytest.raises(DataError, match="not a sentence"):
        TextLM(**SMALL).fit(["fine", 3])
    with pytest.raises(DataError, match="sentences"):
        TextLM(**SMALL).fit(np.zeros((4, 3)))


def test_cli_train_sample_evaluate(tmp_path, capsys):
    train = tmp_path / "train.txt"
    train.write_text("\n".join(FOUR * 4) + "\n")
    run = tmp_path / "run"
    argv = ["train", "textvae", "--data", f"text:{train}", "-o", str(run), "-q", "-p", "epochs=2",
            "-p", "hidden_dim=16", "-p", "embed_dim=8", "-p", "batch_size=8", "-p", "latent_dim=2"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["sample", str(run), "-n", "4", "--seed", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and all(isinstance(s, str) for s in lines)
    assert main(["evaluate", str(run), "--data", f"text:{train}", "-k", "5"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"nll_per_sentence", "kl_per_sentence", "perplexity", "active_units"} <= set(metrics)
    assert len(metrics["samples"]) == 10 and len(metrics["interpolations"]) == 2
    report = (run / "report.html").read_text()
    assert "Samples" in report and "Interpolation" in report
