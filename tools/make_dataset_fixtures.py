"""Writes the tiny dataset trees of tests/train/test_data_readers.cpp.

Run with Debian's python3 (it has PIL): /usr/bin/python3 tools/make_dataset_fixtures.py

Each tree has the standard layout of its dataset with 2-3 images of 12x8
pixels. Label pixel (y, x) of the k-th image of a tree (k counted over the
whole tree in the order written here) holds IDS[(x + 2 * y + k) % len(IDS)]
of that dataset, so the test can predict every mapped value.
"""
import os
import shutil

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "data", "datasets")
W, H = 12, 8

# Raw label values written per dataset (keep in step with the test).
CITYSCAPES_IDS = [0, 7, 8, 11, 24, 26, 33, 10, 34]
CAMVID_IDS = [0, 3, 5, 10, 11]
VOC_IDS = [0, 1, 15, 20, 255]
ADE20K_IDS = [0, 1, 2, 75, 150]
FOLDER_IDS = [0, 1, 2, 255]


def image(k):
    img = Image.new("RGB", (W, H))
    img.putdata([((x * 21 + k * 40) % 256, (y * 31 + k * 17) % 256, (x * y * 7 + 60) % 256)
                 for y in range(H) for x in range(W)])
    return img


def label(ids, k):
    img = Image.new("L", (W, H))
    img.putdata([ids[(x + 2 * y + k) % len(ids)] for y in range(H) for x in range(W)])
    return img


def voc_palette():
    palette = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette += [r, g, b]
    return palette


def path(*parts):
    p = os.path.join(OUT, *parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def cityscapes():
    k = 0
    for split, city, stem in [("train", "aachen", "aachen_000000_000019"), ("train", "aachen", "aachen_000001_000019"),
                              ("train", "bochum", "bochum_000000_000313"), ("val", "lindau", "lindau_000000_000019")]:
        image(k).save(path("cityscapes", "leftImg8bit", split, city, stem + "_leftImg8bit.png"))
        label(CITYSCAPES_IDS, k).save(path("cityscapes", "gtFine", split, city, stem + "_gtFine_labelIds.png"))
        k += 1


def camvid():
    k = 0
    for split, name in [("train", "0001TP_006690.png"), ("train", "0001TP_006720.png"), ("val", "0016E5_07959.png")]:
        image(k).save(path("camvid", split, name))
        label(CAMVID_IDS, k).save(path("camvid", split + "annot", name))
        k += 1


def voc():
    root = ("voc", "VOCdevkit", "VOC2012")
    k = 0
    splits = {"train": [], "val": []}
    for split, stem in [("train", "2007_000032"), ("train", "2007_000039"), ("val", "2007_000033")]:
        image(k).save(path(*root, "JPEGImages", stem + ".jpg"), quality=90)
        mask = label(VOC_IDS, k).convert("P")
        mask.putpalette(voc_palette())
        mask.save(path(*root, "SegmentationClass", stem + ".png"))
        splits[split].append(stem)
        k += 1
    for split, stems in splits.items():
        with open(path(*root, "ImageSets", "Segmentation", split + ".txt"), "w") as f:
            f.write("".join(s + "\n" for s in stems))


def ade20k():
    root = ("ade20k", "ADEChallengeData2016")
    k = 0
    for folder, stem in [("training", "ADE_train_00000001"), ("training", "ADE_train_00000002"),
                         ("validation", "ADE_val_00000001")]:
        image(k).save(path(*root, "images", folder, stem + ".jpg"), quality=90)
        label(ADE20K_IDS, k).save(path(*root, "annotations", folder, stem + ".png"))
        k += 1


def folder():
    for k, (name, ext) in enumerate([("a", ".png"), ("b", ".jpg")]):
        img = image(k)
        img.save(path("folder", "images", name + ext), **({"quality": 90} if ext == ".jpg" else {}))
        label(FOLDER_IDS, k).save(path("folder", "masks", name + ".png"))


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    cityscapes()
    camvid()
    voc()
    ade20k()
    folder()


if __name__ == "__main__":
    main()
