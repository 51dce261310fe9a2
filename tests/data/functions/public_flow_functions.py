"""Stand-ins for the Compute functions the public flows in tests/data/public_flows call, with the
signatures those flows pass (each runs on a local endpoint's worker, as a registered function would)."""


def ls(dir, **_ignored):
    """Gladier's fs_list example: the names in ``dir`` (the flow passes its whole input as the payload)."""
    import os

    return sorted(os.listdir(dir))


def reconstruction_wrapper(rundir, h5_file_name, folder_path):
    """ALS's reconstruction entry point, its arguments from the flow's compute_function_kwargs."""
    import os

    with open(os.path.join(rundir, "reconstructed.txt"), "w") as handle:
        handle.write(f"{folder_path}/{h5_file_name}")
    return f"Reconstructed data specified in {folder_path} / {h5_file_name}"


def stage(src_paths, dest_path, transform_from, transform_to):
    """globus-flows-examples' compute-then-transfer function: copy ``src_paths`` (collection paths) into
    ``dest_path``, mapping the collection's root ``transform_from`` to the filesystem's ``transform_to``;
    returns the staged directory's collection path."""
    import os
    import shutil

    def local(path):
        return os.path.join(transform_to, path[len(transform_from) :])

    for source in src_paths:
        shutil.copy(local(source), local(dest_path))
    return dest_path
