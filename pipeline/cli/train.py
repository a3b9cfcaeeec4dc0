"""Train an early-exit model on a corpus built by `docexit corpus`, calibrate its exits on the
validation split, choose its exit policy under the accuracy constraint, and save it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from docexit.models.training.model_card import TRAINING_FILE, record_evaluation
from docexit.models.training.strategies import STRATEGIES, StrategyConfig
from docexit.models.training.trainer import TrainConfig
from docexit.pipeline.cli import options_as_argv
from docexit.pipeline.cli.arguments import add_policy_arguments

if TYPE_CHECKING:
    from docexit.models.model import EarlyExitModel


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `docexit train`."""
    parser.add_argument(
        "--corpus", type=Path, required=True, help="folder written by `docexit corpus`"
    )
    parser.add_argument("--out", type=Path, required=True, help="checkpoint folder to write")
    _add_design_arguments(parser)
    _add_training_arguments(parser)
    add_policy_arguments(parser, default="max_prob")
    parser.add_argument(
        "--fp16", action="store_true", help="store weights as float16 (bundled model)"
    )
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="per-epoch checkpoints (default OUT/work)"
    )
    parser.add_argument(
        "--report-dir",
        type=Path,
        default=None,
        help="test-split report and plots (default OUT/report)",
    )
    parser.add_argument("--resume", action="store_true", help="continue from WORK_DIR/last")


def _add_design_arguments(parser: argparse.ArgumentParser) -> None:
    """What model is trained: backbone, exits, visual exit, or an existing model."""
    parser.add_argument(
        "--init",
        default="minilm",
        help="backbone: `minilm` (all-MiniLM-L6-v2 warm start), `random`, a folder holding a "
        "LayoutLMv3 checkpoint, or a docexit model folder (its trained backbone, new exits)",
    )
    parser.add_argument(
        "--placement", default="quarter", help="single|quarter|alternate|all or 1,3,5"
    )
    parser.add_argument(
        "--modality", default="independent", choices=["none", "independent", "concat"]
    )
    parser.add_argument("--head", default="ramp", choices=["ramp", "gate"])
    parser.add_argument("--strategy", default="joint", choices=STRATEGIES)
    parser.add_argument(
        "--visual-exit",
        default="cnn",
        choices=["cnn", "none"],
        help="the image-only exit before OCR (trained with the rest, then alone)",
    )
    parser.add_argument(
        "--visual-epochs",
        type=int,
        default=30,
        help="epochs of the visual exit alone after the joint training (0: none)",
    )
    parser.add_argument(
        "--visual-min-threshold",
        type=float,
        default=0.95,
        help="lowest visual-exit threshold to consider (default 0.95): confidence calibrated on "
        "synthetic pages overstates it on real scans, where a low threshold skips OCR on pages "
        "the image alone gets wrong",
    )
    parser.add_argument(
        "--from-model",
        type=Path,
        default=None,
        help="start from this trained model instead of training one: recalibrate, choose the "
        "policy, and train its visual exit; with --strategy two_stage, give it new exits "
        "(--placement, --modality, --head) trained with its backbone and final classifier "
        "frozen (an imported LayoutLMv3 keeps its full-depth answers)",
    )
    parser.add_argument("--max-length", type=int, default=512, help="text tokens per page")
    parser.add_argument("--image-size", type=int, default=224, help="page image side (pixels)")


def _add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """How it is trained (`TrainConfig`)."""
    parser.add_argument("--gamma", type=float, default=0.7)
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--lr-pretrained", type=float, default=TrainConfig.lr_pretrained)
    parser.add_argument("--lr-new", type=float, default=TrainConfig.lr_new)
    parser.add_argument("--patience", type=int, default=TrainConfig.patience)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--max-train-pages", type=int, default=None)
    parser.add_argument("--max-eval-pages", type=int, default=None)


def _train_config(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr_pretrained=args.lr_pretrained,
        lr_new=args.lr_new,
        patience=args.patience,
        seed=args.seed,
        device=args.device,
        strategy=StrategyConfig(name=args.strategy, gamma=args.gamma),
        max_train_pages=args.max_train_pages,
        max_eval_pages=args.max_eval_pages,
        trained_backbone=args.from_model is not None,
    )


def main(args: argparse.Namespace) -> int:
    """Train (or take `--from-model`), calibrate, choose the policy, fit the visual exit, save,
    and report on the test split."""
    from docexit.models.checkpoint import save_checkpoint
    from docexit.models.tokenizer import featurizer_for
    from docexit.models.training.evaluation import calibrate_and_choose_policy
    from docexit.models.training.trainer import Trainer, load_datasets, training_summary
    from docexit.models.training.visual_training import fit_visual_exit

    config = _train_config(args)
    torch.manual_seed(args.seed)
    history = []
    model, trains = initial_model(args)
    # the model's own text length and image size (a --from-model checkpoint has its own)
    featurizer = featurizer_for(model)
    try:
        train_set, val_set = load_datasets(args.corpus, featurizer, config, model.label_names)
    except ValueError as error:
        raise SystemExit(f"docexit train: {error}") from error
    if trains:
        work_dir = args.work_dir or args.out / "work"
        trainer = Trainer(model, train_set, val_set, work_dir, config)
        if args.resume:
            trainer.resume()
        model = trainer.fit()
        history = trainer.history
        print(training_summary(history))
    selection = calibrate_and_choose_policy(
        model,
        val_set,
        kind=args.policy,
        tolerance=args.tolerance,
        batch_size=args.batch_size * 2,
        confidence=args.confidence,
    )
    print(selection.summary())
    visual_history, visual_selection = [], None
    if args.visual_exit != "none":
        visual_history, visual_selection = fit_visual_exit(
            model,
            args.corpus,
            selection.predictions,
            epochs=args.visual_epochs,
            tolerance=args.tolerance,
            confidence=args.confidence,
            seed=args.seed,
            max_train_pages=args.max_train_pages,
            min_threshold=args.visual_min_threshold,
        )
        print(visual_selection.summary())
    save_checkpoint(model, args.out, dtype=torch.float16 if args.fp16 else torch.float32)
    _write_training_record(args, trains, history, selection, visual_history, visual_selection)
    _report_on_test(args, model, featurizer)
    return 0


def _write_training_record(
    args, trains: bool, history, selection, visual_history, visual_selection
) -> None:
    """`training.json`: the command (without the new-model options when a trained model was
    only recalibrated), the training history and both selections."""
    (args.out / TRAINING_FILE).write_text(
        json.dumps(
            {
                "command": "docexit train "
                + " ".join(options_as_argv(args, set() if trains else NEW_MODEL_ONLY)),
                "history": [vars(h) for h in history],
                "selection": selection.to_dict(),
                "visual_history": [vars(h) for h in visual_history],
                "visual_selection": visual_selection.to_dict() if visual_selection else None,
                "base_training": _base_training(args.from_model),
            },
            indent=2,
        )
    )


def _report_on_test(args: argparse.Namespace, model, featurizer) -> None:
    """Evaluate on the corpus's test split, record it in the model card and print it."""
    from docexit.models.training.evaluation import evaluate_split

    report = evaluate_split(
        model, args.corpus, "test", args.report_dir or args.out / "report", featurizer
    )
    record_evaluation(
        args.out,
        "Synthetic test split",
        f"docexit evaluate --data {args.corpus} --model {args.out} --report REPORT_DIR",
        report,
    )
    for line in report.lines():
        print(f"test: {line}")


def initial_model(args: argparse.Namespace) -> tuple[EarlyExitModel, bool]:
    """The model to start from and whether it trains: a new one; a trained one (`--from-model`)
    that is only recalibrated; or, with `--strategy two_stage`, a trained one (e.g. imported)
    given new exits from --placement/--modality/--head, trained with its backbone and final
    classifier frozen, so its full-depth logits stay bit-identical."""
    from docexit.models.checkpoint import load_checkpoint
    from docexit.models.device import resolve_device
    from docexit.models.exits import exit_plan
    from docexit.models.factory import build_model, parse_placement, with_new_exits
    from docexit.models.text_prior import drop_text_prior

    visual_exit = {} if args.visual_exit != "none" else None
    if args.from_model is None:
        model = build_model(
            init=args.init,
            placement=args.placement,
            modality=args.modality,
            head=args.head,
            max_length=args.max_length,
            image_size=args.image_size,
            visual_exit=visual_exit,
        )
        return model, True
    model = load_checkpoint(args.from_model, device=resolve_device(args.device))
    drop_text_prior(model)
    if args.strategy != "two_stage":
        return model, False
    placement = parse_placement(args.placement)
    exits = exit_plan(model.num_layers, placement, modality=args.modality, head=args.head)
    return with_new_exits(model, exits, visual_exit), True


def _base_training(from_model: Path | None) -> dict | None:
    """The training record of the model `--from-model` started from (None if none)."""
    path = from_model / TRAINING_FILE if from_model is not None else None
    return json.loads(path.read_text()) if path is not None and path.is_file() else None


# Options that only shape a new model: not part of a `--from-model` command.
NEW_MODEL_ONLY = {"init", "placement", "modality", "head", "strategy", "gamma", "epochs"}
NEW_MODEL_ONLY |= {"max_length", "image_size", "lr_pretrained", "lr_new", "patience", "resume"}
NEW_MODEL_ONLY |= {"work_dir"}
