// The floor: a bare cpp-httplib server doing what /predict must do — parse the JSON body,
// compute a 10-feature logistic regression, answer JSON — with nothing else (no metrics,
// no logging, no validation beyond the feature count), tuned as mlops serve is. It shows
// the most the library allows on this machine. Built and run by bench/serve.sh.
#include <sys/socket.h>

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include <httplib.h>

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 8002;
  const double w[10] = {0.5, -0.3, 0.8, -0.1, 0.2, 0.1, -0.4, 0.6, -0.2, 0.3};
  httplib::Server server;
  server.set_tcp_nodelay(true);
  server.set_keep_alive_max_count(100000);
  server.new_task_queue = [] { return new httplib::ThreadPool(64); };
  int listen_fd = -1;
  server.set_socket_options([&](int fd) {
    httplib::default_socket_options(fd);
    listen_fd = fd;
  });
  server.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}", "application/json");
  });
  server.Post("/predict", [&](const httplib::Request& req, httplib::Response& res) {
    const auto body = nlohmann::json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.contains("features") || body["features"].size() != 10) {
      res.status = 422;
      return;
    }
    double z = -2.0;
    for (int j = 0; j < 10; ++j) z += w[j] * body["features"][j].get<double>();
    const double p = 1.0 / (1.0 + std::exp(-z));
    res.set_content(nlohmann::json{{"prediction", p > 0.5 ? 1 : 0}, {"probability", p > 0.5 ? p : 1 - p}}.dump(),
                    "application/json");
  });
  if (!server.bind_to_port("127.0.0.1", port)) return 1;
  ::listen(listen_fd, SOMAXCONN);
  std::printf("floor server on %d\n", port);
  std::fflush(stdout);
  server.listen_after_bind();
}
