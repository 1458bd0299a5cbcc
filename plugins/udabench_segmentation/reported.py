"""The thesis-defence slides' segmentation tables as data (mIoU %, GTA5/SYNTHIA -> Cityscapes).

Two of them print methods as columns, with a "Base Net" row whose merged cells give the backbone of
a block of columns; here each method is a row with its backbone, and ``transposed`` says how the slides
prints the table. Reading the merged cells by their values: in SUIT's comparison the first ten
methods use FCN8s-VGG16 and the last five Deeplab-v2 (the Deeplab-v2 SourceOnly, 34.2, is the one
of the transplant table); in Label2Image-DA's, the first seven and the last five.
"""

from udabench.api import ReportedRow, ReportedTable

GTA5 = "gta5-cityscapes"
SYNTHIA = "synthia-cityscapes"
FCN = "FCN8s-VGG16"
DEEPLAB_V2 = "Deeplab-v2"

# (label, reference mark, udabench method, backbone, GTA5 -> Cityscapes mIoU)
_SUIT_ROWS = [
    ("SourceOnly", "", "source-only", FCN, 26.4), ("FCNWild", "[42]", None, FCN, 27.1),
    ("CDA", "[154]", None, FCN, 28.9), ("MCD", "[109]", None, FCN, 28.8), ("CBST", "[161]", None, FCN, 30.9),
    ("OutputSpaceAdapt", "[128]", None, FCN, 35.0), ("CyCADA", "[41]", "cycada", FCN, 35.4),
    ("DCAN", "[143]", None, FCN, 36.2), ("SUIT", "", "suit", FCN, 38.9), ("SUIT w/ Avg.W", "", "suit-avgw", FCN, 40.6),
    ("SourceOnly", "", "source-only", DEEPLAB_V2, 34.2), ("OutputSpaceAdapt", "[128]", None, DEEPLAB_V2, 41.4),
    ("DLOW", "[32]", None, DEEPLAB_V2, 42.3), ("SUIT", "", "suit", DEEPLAB_V2, 43.7),
    ("SUIT w/ Avg.W", "", "suit-avgw", DEEPLAB_V2, 45.3),
]

def _sideways_table(name: str, title: str, source: str, rows) -> ReportedTable:
    """A table the slides print with methods as columns: one mIoU row on GTA5 -> Cityscapes, a
    "Base Net" row naming each block's backbone."""
    return ReportedTable(
        name=name, title=title, source=source, columns=((GTA5, "mIoU (%)"),),
        rows=tuple(ReportedRow(label, {GTA5: (value, None)}, method, backbone=backbone, citation=citation)
                   for label, citation, method, backbone, value in rows),
        metric="mIoU (%)", transposed=True, backbone_label="Base Net",
    )


SUIT_TABLE = _sideways_table(
    "suit-gta5-cityscapes", "SUIT: GTA5 → Cityscapes segmentation, mIoU (%)",
    'Li et al., "Simplified Unsupervised Image Translation for Semantic Segmentation Adaptation" (SUIT), '
    "Pattern Recognition 2020, GTA5 to Cityscapes segmentation comparison, as shown in Rui Li's thesis-defence "
    "slides (City University of Hong Kong)",
    _SUIT_ROWS,
)

# (label, reference mark, udabench method, segmentation network as printed, from GTA-5, from SYNTHIA)
_TRANSPLANT_ROWS = [
    ("SourceOnly", "", "source-only", "Deeplab-v2 [11]", 34.2, 37.4),
    ("OutputSpaceAdapt", "[128]", None, "Deeplab-v2 [11]", 41.4, 45.9),
    ("SUIT", "", "suit", "Deeplab-v2 [11]", 42.1, 44.3),
    ("SUIT w/ Avg.W", "", "suit-avgw", "Deeplab-v2 [11]", 44.5, 46.5),
    ("SourceOnly", "", "source-only", "Deeplab-v3 [12]", 35.2, 38.8),
    ("SUIT", "", "suit", "Deeplab-v3 [12]", 44.6, 46.0),
    ("SUIT w/ Avg.W", "", "suit-avgw", "Deeplab-v3 [12]", 46.2, 47.1),
]

TRANSPLANT_TABLE = ReportedTable(
    name="suit-transplant",
    title="SUIT: the generator pre-trained with FCN-VGG16 transplanted to other segmentation networks, mIoU (%)",
    source='Li et al., "Simplified Unsupervised Image Translation for Semantic Segmentation Adaptation" (SUIT), '
           "Pattern Recognition 2020, generator transplant table, as shown in Rui Li's thesis-defence "
           "slides (City University of Hong Kong)",
    columns=((GTA5, "From GTA-5"), (SYNTHIA, "From SYNTHIA")),
    rows=tuple(ReportedRow(label, {GTA5: (gta5, None), SYNTHIA: (synthia, None)}, method, backbone=backbone,
                           citation=citation)
               for label, citation, method, backbone, gta5, synthia in _TRANSPLANT_ROWS),
    metric="mIoU (%)",
    backbone_label="Seg Net",
)

_LABEL2IMAGE_ROWS = [
    ("SourceOnly", "", "source-only", FCN, 26.4), ("FCNWild", "[42]", None, FCN, 27.1),
    ("CDA", "[154]", None, FCN, 28.9), ("MCD", "[109]", None, FCN, 28.8),
    ("CyCADA pixel-only", "[41]", "cycada-pixel", FCN, 34.8), ("CyCADA", "[41]", "cycada", FCN, 35.4),
    ("Label2Image-DA", "", "label2image-seg", FCN, 37.5),
    ("SourceOnly", "", "source-only", DEEPLAB_V2, 34.2), ("CycleGAN", "[159]", None, DEEPLAB_V2, 41.0),
    ("OutputSpaceAdapt", "[128]", None, DEEPLAB_V2, 41.4), ("DLOW", "[32]", None, DEEPLAB_V2, 42.3),
    ("Label2Image-DA", "", "label2image-seg", DEEPLAB_V2, 43.8),
]

LABEL2IMAGE_TABLE = _sideways_table(
    "label2image-segmentation", "Label2Image-DA: GTA5 → Cityscapes segmentation, mIoU (%)",
    'Li et al., "Generating Target Image-Label Pairs for Unsupervised Domain Adaptation" '
    "(Label2Image-DA), IEEE TIP 2020, segmentation table, as shown in Rui Li's thesis-defence "
           "slides (City University of Hong Kong)",
    _LABEL2IMAGE_ROWS,
)

TABLES = (SUIT_TABLE, TRANSPLANT_TABLE, LABEL2IMAGE_TABLE)
