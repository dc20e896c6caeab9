#include <stdio.h>

#include "cmd.h"

int cmd_cluster(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    tk_cmd_fail("cluster: being written");
    return 1;
}
