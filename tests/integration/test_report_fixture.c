/* Writes the results fixture database (tests/results_fixture.h) to the path given, for the
 * browser test (test_report_browser.sh), which then renders the report and calculator page
 * from it. */
#include <stdio.h>
#include <unistd.h>

#include "results_fixture.h"

int main(int argc, char **argv)
{
    struct tk_err err = {0};

    if (argc != 2) {
        fprintf(stderr, "usage: %s OUT.db\n", argv[0]);
        return 2;
    }
    if (access(argv[1], F_OK) == 0) {
        fprintf(stderr, "%s: '%s' exists; the fixture is written to a new file\n", argv[0],
                argv[1]);
        return 1;
    }
    if (fx_build(argv[1], &err)) {
        fprintf(stderr, "%s: %s\n", argv[0], err.msg);
        return 1;
    }
    return 0;
}
