# A Sinatra application on Debian's ruby-sinatra, served by WEBrick (ruby-webrick). Its
# home page links to one view only; the other routes, which the crawl never reaches,
# require standard-library and gem code inside their handlers, on their first request.
require "sinatra"

set :environment, :production
set :bind, "0.0.0.0"
set :port, 4567
set :server, "webrick"
set :root, __dir__

get "/" do
  erb :index
end

get "/hello/:name" do
  @name = params[:name]
  erb :hello
end

# Decimal arithmetic (bigdecimal: a Ruby file and a C extension).
get "/total" do
  require "bigdecimal"
  require "bigdecimal/util"
  @total = %w[0.10 0.20 0.30].map(&:to_d).sum
  erb :total
end

# A CSV table (the csv library, Ruby files only).
get "/table.csv" do
  require "csv"
  content_type "text/csv"
  CSV.generate { |csv| [%w[name qty], %w[apple 3], %w[pear 5]].each { |row| csv << row } }
end

# A URL built from a pattern (a part of the mustermann gem Sinatra itself never loads).
get "/expand" do
  require "mustermann/expander"
  @url = Mustermann::Expander.new("/books/:id", "/books/:id/:page").expand(id: 7, page: 2)
  erb :expand
end

# A JSON body in, a JSON answer out with the body's digest (json and digest: C extensions).
post "/items" do
  require "json"
  require "digest"
  item = JSON.parse(request.body.read)
  content_type :json
  status 201
  JSON.generate("stored" => item, "sha256" => Digest::SHA256.hexdigest(item.to_s))
end
