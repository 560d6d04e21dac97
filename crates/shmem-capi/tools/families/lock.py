"""Distributed locks on a symmetric `long`: set, test and clear."""


def declarations():
    return """\
void shmem_set_lock(long *lock);
void shmem_clear_lock(long *lock);
int shmem_test_lock(long *lock);"""
