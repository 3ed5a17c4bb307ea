"""Export to labelme, convert with labelme2voc, open the result again: the folder's classes are the model's with no
decision to make, and class 0 gets its name back (labelme2voc writes "_background_" for it whatever it was)."""
import numpy as np
from PIL import Image

from engine.io.exports import labelme_labels_txt, write_labelme
from engine.labels import VOID, ClassList
from engine.project.classes import FolderClasses
from engine.project.folder import FolderProject
from engine.project.guard import labels_target
from engine.project.reconcile import BY_NAME, Decision, Match, decide, reconcile, recover_class0
from tests.support.labelme_port import labelme2voc_png

BELT = ClassList(("belt", "paper", "plastic bottle", "plastic bag", "metal can"))


def _labelme2voc(tmp_path):
    """Our labelme export, then what labelme2voc leaves: SegmentationClass PNGs and its class_names.txt (the names
    of labels.txt without __ignore__, joined by newlines), laid out as an app folder (images + labels/)."""
    lab = np.zeros((20, 30), np.uint8)
    lab[3:12, 4:20] = 1
    lab[14:18, 2:9] = 4
    lab[0, 0] = VOID
    (tmp_path / "src").mkdir()
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "src" / "a.png")
    write_labelme(tmp_path / "lm" / "a.json", lab, BELT, tmp_path / "src" / "a.png")
    txt = (tmp_path / "lm" / "labels.txt").read_text()
    assert txt == labelme_labels_txt(BELT)
    folder = tmp_path / "voc"
    (folder / "labels").mkdir(parents=True)
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(folder / "a.jpg")
    Image.fromarray(labelme2voc_png(tmp_path / "lm" / "a.json", txt), "L").convert("P").save(
        folder / "labels" / "a.png")
    names = [line.strip() for line in txt.splitlines()][1:]
    (folder / "labels" / "class_names.txt").write_text("\n".join(names))
    return folder, lab


def test_round_trip_needs_no_decision_and_recovers_class_0(tmp_path):
    folder, lab = _labelme2voc(tmp_path)
    project = FolderProject.open(folder / "labels")
    assert project.classes.names[0] == "_background_"       # what labelme2voc wrote
    rec = reconcile(project.classes, BELT)
    assert rec.match == Match.SAME and not rec.needs_decision
    classes, cmap = decide(project.classes, BELT, rec.suggested())
    assert classes.names == BELT.names and cmap.identity
    target = labels_target(folder / "labels", BELT)         # headless predict --out: no --map-classes needed
    assert target.class_list.names == BELT.names and target.channel_map.identity
    assert np.array_equal(np.array(Image.open(folder / "labels" / "a.png")), lab)


def test_recovery_only_for_the_placeholder_and_never_a_clash():
    folder = FolderClasses.from_names(["_background_", "paper", "belt"])
    assert recover_class0(folder, BELT) is folder            # 'belt' is already id 2: names would clash
    plain = FolderClasses.from_names(["floor", "paper"])
    assert recover_class0(plain, BELT) is plain              # a real name is never replaced
    voc = ClassList(("background", "aeroplane"))
    placeholder = FolderClasses.from_names(["_background_", "aeroplane"])
    assert recover_class0(placeholder, voc) is placeholder   # same class already ('background')
    assert reconcile(placeholder, voc).match == Match.SAME
    other = reconcile(FolderClasses.from_names(["_background_", "cat"]), BELT)
    assert other.match == Match.DIFFERENT                    # class 0 is recovered, the rest still differ
    assert other.folder[0] == "belt"
    added, _ = decide(FolderClasses.from_names(["_background_", "cat"]), BELT, Decision(BY_NAME, add_missing=True))
    assert added.names[:2] == ("belt", "cat") and "paper" in added.names
