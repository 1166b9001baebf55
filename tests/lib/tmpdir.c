/* tmpdir: scratch-directory cleanup for the C tests (see tmpdir.h). */
#include "tmpdir.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void tmpdir_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char p[4096];
        if (snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) < (int)sizeof(p))
            unlink(p);
    }
    closedir(d);
}

void tmpdir_remove(const char *dir)
{
    tmpdir_empty(dir);
    rmdir(dir);
}
