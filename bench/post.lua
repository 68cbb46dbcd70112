-- wrk script: POST one /predict row as JSON.
wrk.method = "POST"
wrk.body = '{"features":[5.2,1.3,7.7,2.0,3.1,4.4,1.0,8.2,2.5,6.0]}'
wrk.headers["Content-Type"] = "application/json"
