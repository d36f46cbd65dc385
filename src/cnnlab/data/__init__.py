"""Datasets as uint8 NHWC arrays: course HDF5 files, image folders, built-in and named sets.

Example:
    >>> from cnnlab.data import load_dataset
    >>> ds = load_dataset("digits", image_size=None, seed=0)
    >>> ds.x_train.dtype, ds.image_shape, ds.class_names[:3]
    (dtype('uint8'), (8, 8, 3), ['0', '1', '2'])
"""

from cnnlab.data.builtin import digits_arrays, make_synthetic, make_synthetic_arrays
from cnnlab.data.cache import cache_dir
from cnnlab.data.course import convert_to_one_hot, random_mini_batches, to_tf_dataset
from cnnlab.data.dataset import Dataset, split_dataset, stratified_indices
from cnnlab.data.h5 import export_h5, load_h5, read_h5_pair, read_h5_split
from cnnlab.data.images import (
    DEFAULT_IMAGE_SIZE,
    IMAGE_SUFFIXES,
    SUPPORTED_FORMATS,
    conform_images,
    decode_image,
    list_class_folders,
    load_folder_arrays,
)
from cnnlab.data.loader import load_dataset, load_split
from cnnlab.data.registry import (
    REGISTRY,
    NamedDataset,
    dataset_dir,
    fetch,
    is_fetched,
    safe_extract,
    verify_fetched,
)
from cnnlab.data.source import BUILTIN, Source, SplitSpec, resolve_source
from cnnlab.errors import DatasetError

__all__ = [
    "BUILTIN",
    "DEFAULT_IMAGE_SIZE",
    "IMAGE_SUFFIXES",
    "REGISTRY",
    "SUPPORTED_FORMATS",
    "Dataset",
    "DatasetError",
    "NamedDataset",
    "Source",
    "SplitSpec",
    "cache_dir",
    "conform_images",
    "convert_to_one_hot",
    "dataset_dir",
    "decode_image",
    "digits_arrays",
    "export_h5",
    "fetch",
    "is_fetched",
    "list_class_folders",
    "load_dataset",
    "load_split",
    "load_folder_arrays",
    "load_h5",
    "make_synthetic",
    "make_synthetic_arrays",
    "random_mini_batches",
    "resolve_source",
    "read_h5_pair",
    "read_h5_split",
    "safe_extract",
    "split_dataset",
    "stratified_indices",
    "to_tf_dataset",
    "verify_fetched",
]
