"""A Compute function for the compute-then-transfer example: tar files into a work directory."""


def bundle(sources, work_path, root):
    """Tar ``sources`` (collection paths under ``root``) into ``work_path``; returns the tar's collection path."""
    import os
    import tarfile

    def local(path):
        relative = path[3:] if path.startswith("/~/") else path.lstrip("/")
        return os.path.join(root, relative)

    target = work_path.rstrip("/") + "/bundle.tar"
    with tarfile.open(local(target), "w") as archive:
        for source in sources:
            archive.add(local(source), arcname=os.path.basename(source))
    return target
