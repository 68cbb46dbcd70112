// mlflow-double: the MLflow test double as a process, for scripts that need an MLflow
// (the classroom grading script's test, lessons) where MLflow itself cannot be installed.
//   build/tests/mlflow-double [--port P]   prints "listening on http://127.0.0.1:P", serves
//   until SIGINT or SIGTERM.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/support/mlflow_double.hpp"

int main(int argc, char** argv) {
  int port = 0;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--port") port = std::atoi(argv[i + 1]);
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before the server's threads start
  mlops::test::MlflowDouble mlflow(port);
  std::printf("mlflow-double: listening on %s\n", mlflow.url().c_str());
  std::fflush(stdout);
  int received = 0;
  sigwait(&signals, &received);
  return 0;
}
