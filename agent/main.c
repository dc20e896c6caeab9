/* turbokube-agent: fake kubelets. The skeleton grows in the agent issue. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: turbokube-agent --kubeconfig PATH --nodes N [options]\n");
        return 0;
    }
    fprintf(stderr, "turbokube-agent: not built yet\n");
    return 1;
}
