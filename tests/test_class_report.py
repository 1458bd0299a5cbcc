"""What a classification run says about its classes: accuracy per class, the confusion matrix, and
one line when a single class takes most of the target predictions."""

from __future__ import annotations

from udabench.commands.summary import class_lines

def collapsed_record():
    """A source-only run on a new target that predicted '1' for 583 of its 597 test images."""
    sizes = [60] * 9 + [57]
    confusion = [[0] * 10 for _ in range(10)]
    for true, size in enumerate(sizes):
        confusion[true][1] = size
    confusion[9][1], confusion[9][9] = 43, 14
    accuracy = [[str(i), row[i] / sum(row)] for i, row in enumerate(confusion)]
    return {"run_id": "0123456789ab", "details": {"per_class_accuracy": accuracy, "confusion": confusion}}


def test_a_run_that_predicts_one_class_says_so():
    lines = class_lines(collapsed_record(), full_matrix=False)
    assert lines[0] == ("  target accuracy per class: 0 0.000, 1 1.000, 2 0.000, 3 0.000, 4 0.000, 5 0.000, 6 0.000, "
                        "7 0.000, 8 0.000, 9 0.246")
    assert lines[1] == ("  predicted '1' for 583 of 597 target test images (98%; 60 are '1'): the model does not tell "
                        "the target's classes apart; look for what the target images show that the source's never do "
                        "(colour, contrast, size) before comparing methods")
    assert lines[2] == "  target confusion matrix (rows: true class, columns: predicted):"
    assert lines[3].split() == [str(d) for d in range(10)] and lines[5].split() == ["1", "0", "60"] + ["0"] * 8
    assert lines[-1].split() == ["9", "0", "43"] + ["0"] * 7 + ["14"]
    balanced = {"run_id": "x", "details": {"per_class_accuracy": [["a", 0.5], ["b", 0.5]],
                                           "confusion": [[5, 5], [5, 5]]}}
    assert not any("apart" in line for line in class_lines(balanced, full_matrix=False))


def test_many_classes_show_their_largest_confusions_and_long_names_are_numbered():
    names = [f"sign number {i}" for i in range(20)]
    confusion = [[5 if i == j else 0 for j in range(20)] for i in range(20)]
    confusion[3][7] = 4
    record = {"run_id": "abc", "details": {"per_class_accuracy": [[n, 0.5] for n in names], "confusion": confusion}}
    summary = class_lines(record, full_matrix=False)
    assert summary[-1] == ("  most frequent target confusions (true -> predicted): sign number 3 -> sign number 7 4; "
                           "the full matrix: udabench results --show abc")
    full = class_lines(record, full_matrix=True)
    assert full[2].split()[:3] == ["0", "1", "2"] and full[3].startswith("    0 sign number 0 ")
    assert class_lines({"run_id": "x", "details": {}}, full_matrix=True) == []  # older runs: nothing to show
